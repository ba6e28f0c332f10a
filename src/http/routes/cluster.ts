/** `GET /api/cluster`: the culm instances sharing this ZooKeeper, the leader, and each one's last apply. */
import { CulmError, errorMessage } from '../../core/errors.js';
import { sendJson } from '../io.js';
import type { Route } from '../router.js';

export type ClusterSource = () => Promise<unknown>;

export function clusterRoutes(cluster: ClusterSource | undefined): Route[] {
  if (!cluster) return [];
  return [{
    name: '/api/cluster',
    path: '/api/cluster',
    handlers: {
      GET: async ({ res }) => {
        let view: unknown;
        try {
          view = await cluster();
        } catch (err) {
          throw new CulmError('E_STORE_UNAVAILABLE', `cluster view unavailable: ${errorMessage(err)}`, { status: 503, cause: err });
        }
        sendJson(res, 200, view);
      },
    },
  }];
}
