// Credentials for object storage: explicit keys (a Secret, the environment)
// or the operator's own ambient identity, resolved by the AWS SDK's
// providers. Which one a request may carry is decided elsewhere
// (artifact-access.ts, egress.ts's ambientCredentialsAllowed): the ambient
// identity goes only to endpoints the cluster admin lists.
export type Credentials = {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
};

/** Resolved credentials, with the time they stop working when they are temporary. */
export type ResolvedCredentials = Credentials & { expiration?: Date };

/** What the SDK calls for credentials (an AwsCredentialIdentityProvider). */
export type CredentialsProvider = () => Promise<ResolvedCredentials>;

type Env = Readonly<Record<string, string | undefined>>;

/** Keys named in the environment: YMERA_S3_* first, then AWS_*; undefined when either key is missing. */
export function explicitCredentials(env: Env): Credentials | undefined {
  const accessKeyId = env.YMERA_S3_ACCESS_KEY || env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.YMERA_S3_SECRET_KEY || env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = env.YMERA_S3_SESSION_TOKEN || env.AWS_SESSION_TOKEN;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** Where the ambient chain looks, in order; named in the error when it finds nothing. */
export const AMBIENT_SOURCES =
  'YMERA_S3_ACCESS_KEY/YMERA_S3_SECRET_KEY, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ' +
  'a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN: IRSA), ' +
  'container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI: EKS Pod Identity, or _RELATIVE_URI: ECS), ' +
  'the EC2 instance metadata service';

/** Refresh temporary credentials this long before they expire. */
const REFRESH_BEFORE_MS = 5 * 60_000;

/**
 * Caches what `provider` resolves until shortly before it expires (forever
 * when it does not), sharing one in-flight resolution between callers. A
 * failure is not cached: the next call tries again.
 */
export function memoizeCredentials(
  provider: CredentialsProvider,
  now: () => number = Date.now,
): CredentialsProvider {
  let cached: ResolvedCredentials | undefined;
  let pending: Promise<ResolvedCredentials> | undefined;
  return () => {
    if (cached && (!cached.expiration || cached.expiration.getTime() - REFRESH_BEFORE_MS > now())) {
      return Promise.resolve(cached);
    }
    pending ??= provider().then(
      (c) => {
        cached = c;
        pending = undefined;
        return c;
      },
      (e: unknown) => {
        pending = undefined;
        throw e;
      },
    );
    return pending;
  };
}

/**
 * The operator's own identity: explicit keys from its environment first,
 * then the SDK's providers for web identity (IRSA), container credentials
 * (EKS Pod Identity, ECS) and instance metadata. Deliberately not the SDK's
 * full default chain: no shared config files, SSO or credential_process.
 * These providers make their own connections (to STS, 169.254.170.23,
 * 169.254.169.254), not through the store's egress guard, which governs
 * only the S3 endpoint a user names.
 */
export function ambientCredentialChain(env: Env = process.env): CredentialsProvider {
  const explicit = explicitCredentials(env);
  if (explicit) return () => Promise.resolve(explicit);
  // the providers' package (~11 MiB of RSS) loads when the chain is first asked, not at start-up
  let chain: Promise<CredentialsProvider> | undefined;
  return async () => {
    chain ??= import('@aws-sdk/credential-providers').then(
      ({ createCredentialChain, fromEnv, fromHttp, fromInstanceMetadata, fromTokenFile }) =>
        createCredentialChain(
          fromEnv(),
          fromTokenFile(),
          fromHttp(),
          fromInstanceMetadata(),
        ) as CredentialsProvider,
      (e: unknown) => {
        chain = undefined;
        throw e;
      },
    );
    return (await chain)();
  };
}

let processAmbient: CredentialsProvider | undefined;

/** The process's ambient identity, resolved once and shared by every store (no STS or IMDS call per read). */
export function processAmbientCredentials(): CredentialsProvider {
  processAmbient ??= memoizeCredentials(ambientCredentialChain(process.env));
  return processAmbient;
}
