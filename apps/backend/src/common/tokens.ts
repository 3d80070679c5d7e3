/** Whether background loops (health monitor, orphan detector, retention) start with the app. */
export const BACKGROUND_TASKS = Symbol('BACKGROUND_TASKS');
