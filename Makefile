# ymera-operator — every entry point the README names. Each target provisions
# Node.js 24 and npm dependencies itself (scripts/with-node.sh).
SHELL := /bin/bash
WITH_NODE := scripts/with-node.sh
STACK := test/e2e/stack.sh

.PHONY: run test unit e2e lint format typecheck crds cluster-up cluster-down cluster-status binaries bench bench-operator bench-scale bench-backup bench-predictor bench-tune bench-heal chaos chaos-kill chaos-outages image image-import

## run: bring up the local cluster, install CRDs, apply the samples, run the operator (Ctrl-C stops it).
##      YMERA_USE_EXISTING_CLUSTER=1 uses the cluster $KUBECONFIG points at instead.
run:
	@$(WITH_NODE) scripts/run-demo.sh

## test: the whole suite (lint, types, unit, e2e on the local cluster); ends with "N passed, N failed".
test:
	@$(WITH_NODE) scripts/test-all.sh

unit:
	@$(WITH_NODE) npx vitest run --project unit

e2e:
	@$(WITH_NODE) npx vitest run --project e2e

lint:
	@$(WITH_NODE) npm run --silent lint

format:
	@$(WITH_NODE) npm run --silent format

typecheck:
	@$(WITH_NODE) npm run --silent typecheck

## crds: regenerate crds/ and charts/ymera-operator/crds/ from the TypeScript schemas.
crds:
	@$(WITH_NODE) npm run --silent crds

## bench: the inference runtime benchmark (raw session.run vs the runtime over HTTP JSON, binary and gRPC, and
##        vs KServe's Python ModelServer on the same model; BENCH_* knobs in bench/inference.ts); writes bench/results/latest.json.
bench:
	@$(WITH_NODE) npm run --silent bench

## bench-operator: for N in BENCH_OPERATOR_COUNTS (default 100,1000), N InferenceServices applied at once to the local
##                 stack vs kube-controller-manager bringing N Deployments to Available on the same API server: seconds
##                 to all Ready/Available and the throughput ratio (target >= 0.8), API requests per object by verb and
##                 resource, writes and reads per minute in a steady window (BENCH_OPERATOR_STEADY_S, default 300),
##                 reconcile p99, operator RSS and JS heap; writes bench/results/operator.json.
bench-operator:
	@$(WITH_NODE) node --disable-warning=ExperimentalWarning bench/operator.ts

## bench-scale: the same as bench-operator (its former name; SCALE_COUNTS still read).
bench-scale: bench-operator

## bench-backup: a BackupPolicy backup (BENCH_BACKUP_OBJECTS ConfigMaps, default 1000, and a model file of
##               BENCH_BACKUP_BYTES, default 1 GiB) by the operator process vs a plain multipart upload of the
##               same bytes to the local MinIO, alternated BENCH_BACKUP_ROUNDS times (default 3); ratio of the median
##               throughputs, operator RSS growth (worst round), CPU of each side; writes bench/results/backup.json.
bench-backup:
	@$(WITH_NODE) node --disable-warning=ExperimentalWarning bench/backup.ts

## bench-predictor: one MaintenancePlan evaluation interval for BENCH_NODES nodes (default 1000) x the shipped
##                  predictor's 16 signals against the local stack's Prometheus (fed by a bench exporter): wall
##                  time, Prometheus requests (target: one per signal), operator CPU; writes bench/results/predictor.json.
bench-predictor:
	@$(WITH_NODE) node --disable-warning=ExperimentalWarning bench/predictor.ts

## bench-tune: the OptimizationLoop's real state machine (Bayesian; BENCH_TUNE_ALGORITHM) tunes the real runtime's
##             maxBatchSize x maxDelayMs live on the bench model under the bench's load (64 clients), objective throughput,
##             p95 <= 2x the default's; tuned / default throughput with the default measured before and after (drift),
##             ~4 min; then the simulation: the three algorithms against services with known optima over
##             BENCH_TUNE_SEEDS seeds (BENCH_TUNE_LIVE=0: only that, no runtime); writes bench/results/tune.json.
bench-tune:
	@$(WITH_NODE) node --disable-warning=ExperimentalWarning bench/tune.ts

## bench-heal: MTTR of an InferenceService, seconds from a fault to serving at full strength again (or rolled back):
##             a crashing revision and a failing model load (real node, rolled back), a leaking pod
##             (spec.healing.memory, kwok) and a lost node under a replica (the real
##             node's kubelet frozen; the replacement lands on a kwok node), BENCH_HEAL_ROUNDS each
##             (default 3; BENCH_HEAL_SCENARIOS=crash,load,leak,node); median and max; writes bench/results/heal.json.
bench-heal:
	@$(WITH_NODE) node --disable-warning=ExperimentalWarning bench/heal.ts

## chaos: the chaos suite against the local stack, bounded (stops by itself; the stack is shared, so it runs under
##        the e2e lock and undoes every fault in a finally): kill points, then outages (both below);
##        writes bench/results/chaos-*.json.
chaos:
	@flock /tmp/ymera-e2e.lock $(WITH_NODE) node --disable-warning=ExperimentalWarning bench/chaos.ts

## chaos-kill: SIGKILL the operator CHAOS_KILLS times (default 50; half right after a write through the test-only
##             hook YMERA_CHAOS_KILL_AFTER_WRITES, half at random times) during CHAOS_RECONCILES changes (default
##             200) to CHAOS_SETS copies of the samples (default 4) plus a MaintenancePlan, restarting it each time
##             (CHAOS_SEED repeats a run); then 0 orphaned/duplicate children, 0 lost status, all converged?
##             Faults, objects checked, lost, orphaned, duplicates, seconds to converge after the last kill;
##             writes bench/results/chaos-kill.json. ~10 min.
chaos-kill:
	@flock /tmp/ymera-e2e.lock $(WITH_NODE) node --disable-warning=ExperimentalWarning bench/chaos-kill.ts

## chaos-outages: the API unreachable for the operator 20 s (its TCP proxy cut), then the cluster's real kube-apiserver
##                and etcd each stopped CHAOS_RESTART_DOWN_SECONDS (default 15) and started again by
##                `cluster.sh stop-component`/`restart` (never up/down: the cluster is not recreated); after each the
##                operator, not restarted, reconciles a change within 10 s of the API being back. Kafka, Prometheus
##                and MinIO each stopped CHAOS_OUTAGE_SECONDS (default 60: status says so, no crash, reconciles
##                under a bound, clears by itself), a leader killed under load (no double writes, all converge);
##                CHAOS_FAULTS picks some; writes bench/results/chaos-outages.json. Takes the e2e lock itself.
chaos-outages:
	@flock /tmp/ymera-e2e.lock $(WITH_NODE) node --disable-warning=ExperimentalWarning bench/chaos-outages.ts

## image: build the operator/runtime image without Docker (OCI archive under ~/.cache/ymera/images/; prints its path).
image:
	@scripts/build-image.sh

## image-import: build it, then import it into the real node's containerd (YMERA_CONTAINERD_ADDRESS).
image-import:
	@scripts/build-image.sh --import

binaries:
	@test/e2e/cluster/build-binaries.sh

cluster-up:
	@$(STACK) up

cluster-down:
	@$(STACK) down

cluster-status:
	@$(STACK) status
