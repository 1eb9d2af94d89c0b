/**
 * health/events — health transitions published on node:diagnostics_channel, so
 * metrics, the admin event log and tests subscribe without health/ importing
 * them (imports flow towards health/, never out of it).
 */
import diagnosticsChannel from 'node:diagnostics_channel';

/** HealthFlipEvent — one server's health verdict changed. */
export interface HealthFlipEvent {
  readonly pool: string;
  readonly id: string;
  readonly healthy: boolean;
  /** 'up' | 'down' for active checks; passive ejections publish from their owner. */
  readonly status: 'up' | 'down';
  readonly source: 'active' | 'passive';
  readonly reason: string;
}

/** HEALTH_FLIP_CHANNEL — the diagnostics_channel name carrying HealthFlipEvent messages. */
export const HEALTH_FLIP_CHANNEL = 'switchyard:health:flip';

const flipChannel = diagnosticsChannel.channel(HEALTH_FLIP_CHANNEL);

/** publishHealthFlip — publishes a flip (rare by construction, so the event object costs nothing that matters). */
export function publishHealthFlip(event: HealthFlipEvent): void {
  if (flipChannel.hasSubscribers) flipChannel.publish(event);
}
