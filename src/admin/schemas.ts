/**
 * admin/schemas — JSON Schemas of the admin API bodies and params (fastify
 * validates them with its ajv before a handler runs; unknown keys are refused).
 */
import { Type, type Static } from '@sinclair/typebox';

const PoolName = Type.String({ minLength: 1, maxLength: 63 });

export const SwitchBody = Type.Object(
  {
    to: PoolName,
    force: Type.Optional(Type.Boolean()),
    wait: Type.Optional(Type.Unsafe<'drained'>({ type: 'string', enum: ['drained'] })),
  },
  { additionalProperties: false },
);
export type SwitchBody = Static<typeof SwitchBody>;

export const RollbackBody = Type.Object(
  {
    force: Type.Optional(Type.Boolean()),
    wait: Type.Optional(Type.Unsafe<'drained'>({ type: 'string', enum: ['drained'] })),
  },
  { additionalProperties: false },
);
export type RollbackBody = Static<typeof RollbackBody>;

export const WeightsBody = Type.Object(
  {
    weights: Type.Record(Type.String({ minLength: 1, maxLength: 63 }), Type.Integer({ minimum: 0, maximum: 1000 }), { minProperties: 1 }),
    force: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type WeightsBody = Static<typeof WeightsBody>;

export const MaintenanceBody = Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false });
export type MaintenanceBody = Static<typeof MaintenanceBody>;

export const ServerParams = Type.Object({ pool: PoolName, id: Type.String({ minLength: 1, maxLength: 128 }) });
export type ServerParams = Static<typeof ServerParams>;

export const ServerStateBody = Type.Object(
  { state: Type.Unsafe<'ready' | 'drain' | 'maint'>({ type: 'string', enum: ['ready', 'drain', 'maint'] }) },
  { additionalProperties: false },
);
export type ServerStateBody = Static<typeof ServerStateBody>;

export const ServerWeightBody = Type.Object({ weight: Type.Integer({ minimum: 0, maximum: 1000 }) }, { additionalProperties: false });
export type ServerWeightBody = Static<typeof ServerWeightBody>;
