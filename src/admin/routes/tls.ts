/**
 * admin/routes/tls — POST /api/v1/reload-certs: re-read every TLS listener's
 * certificate and key files and swap them in without dropping a connection
 * (the same thing SIGHUP does). All or nothing: a bad file answers 500
 * SY_ERR_CERT_RELOAD naming it, and the certificates in force stay.
 */
import type { FastifyInstance } from 'fastify';
import { who, type AdminContext } from '../context.js';

/** tlsRoutes — registers POST /api/v1/reload-certs. */
export async function tlsRoutes(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  app.post('/api/v1/reload-certs', async (req) => {
    const result = (await ctx.reloadCerts?.()) ?? { listeners: 0, files: [] };
    ctx.log.child({ component: 'audit' }).info({ action: 'reload-certs', who: who(req), listeners: result.listeners, files: result.files.length }, 'certificates reloaded');
    return result;
  });
}
