// Public API of the Marathon edge: fetch (client), listen (event stream, callbacks), parse (SSE).
// Mapping Marathon JSON to the model lives in src/core (pure), not here.
export { SseParser, type SseMessage } from './sse.js';
export {
  MarathonClient,
  APPS_PATH,
  type AppsResponse,
  type AppsSink,
  type HttpMethod,
  type MarathonClientOptions,
  type MarathonRequestOptions,
  type RequestOutcome,
} from './client.js';
export { EventStream, type EventStreamOptions, type EventStreamBackoff } from './event-stream.js';
export { CallbackSubscription, SUBSCRIPTIONS_PATH, type CallbackSubscriptionOptions } from './subscription.js';
export { MarathonError, MarathonErrorCode, type MarathonErrorDetails } from './http.js';
export { parseEndpoints, type Query } from './endpoints.js';
