// ResourceType of a ymera kind, derived from its schema definition so the
// REST paths can never disagree with the CRD.
import type { KindDefinition } from '../schema/crd.ts';
import type { ResourceType } from './resources.ts';

export function resourceTypeOf(def: KindDefinition): ResourceType {
  return {
    group: def.group,
    version: def.version,
    kind: def.kind,
    plural: def.plural,
    namespaced: def.scope === 'Namespaced',
  };
}
