export * from './schema';
export * from './settings';
export {
  ConfigurationError,
  DEPRECATED_NAMES,
  clearSettingsCache,
  currentEnvironment,
  describeSettings,
  findUnknownEnvVars,
  getApiClientSettings,
  getApiSettings,
  getCheckpointSettings,
  getCliSettings,
  getDataSettings,
  getDatabaseSettings,
  getFleetConfig,
  getFleetSettings,
  loadFleetConfig,
  getEventsSettings,
  getLoggingSettings,
  getObservabilitySettings,
  getOperationsSettings,
  getOrphanDetectorSettings,
  getResultsSettings,
  getRuntimeSettings,
  getSandboxSettings,
  getTestSettings,
  getWorkerSettings,
  loadSettings,
  loadSettingsOrExit,
  setConfigLogger,
  validateAll,
  warnDeprecatedEnvVars,
  warnInsecureDefaults,
  warnUnknownEnvVars,
  withEnv,
  type ConfigLogger,
  type FieldDescription,
} from './config';
export { childProcessEnv, parseDotenv, type EnvMap } from './env';
export {
  DEPLOYMENT_TYPES,
  FLEET_FILE_KEYS,
  FLEET_WORKER_TYPES,
  checkFleetFile,
  cidrContains,
  fleetFileName,
  formatIpv4,
  parseCidr,
  parseIpRange,
  parseIpv4,
  resolveEnvironmentName,
  type Cidr,
  type ComposeDeployment,
  type DeploymentType,
  type FleetConfig,
  type FleetDeployment,
  type FleetKey,
  type FleetWorkerType,
  type IpRange,
  type LoadFleetOptions,
  type ProxmoxDeployment,
  type ProxmoxWorkerGroup,
} from './fleet';
export { redactUrlCredentials } from './loader';
export { holdStartupSignals, type SignalHandler, type StartupSignals } from './startup-signals';
export { compiledEntry } from './compiled-entry';
export { sleepOnTimers, systemClock, type Clock, type TimerHandle } from './clock';
export { backoffDelayMs, type BackoffOptions } from './backoff';
export * from './dev-secrets';
export { renderConfigurationMarkdown, renderEnvExample } from './docs';
