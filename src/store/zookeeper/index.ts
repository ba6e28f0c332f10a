/** culm's ZooKeeper stores: rules in Bamboo's layout, the state snapshot in a subtree of its own. */
export { goQueryEscape, goQueryUnescape, QueryEscapeError } from './escape.js';
export { decodeRuleNode, encodeRule, ruleNodeName } from './representation.js';
export { ZooKeeperRuleStore, type ZooKeeperRuleStoreOptions } from './rules.js';
export { ZkSession, aclFor, type AclMode, type ZkConnectionOptions } from './session.js';
export { stateAppsPath, ZooKeeperStateStore, type SaveStats, type ZooKeeperStateStoreOptions } from './state.js';
