// Node-RED for the peer comparison: headless (no editor, no admin API),
// loopback only. run.sh sets PEER_PORT, PEER_USER_DIR and ERP_URL.
module.exports = {
  uiHost: '127.0.0.1',
  uiPort: Number(process.env.PEER_PORT || 1880),
  userDir: process.env.PEER_USER_DIR,
  flowFile: 'flows.json',
  credentialSecret: false,
  disableEditor: true,
  httpAdminRoot: false,
  logging: { console: { level: 'warn', metrics: false, audit: false } },
  editorTheme: { projects: { enabled: false } },
  telemetry: { enabled: false },
  diagnostics: { enabled: false },
  runtimeState: { enabled: false },
};
