// Free TCP ports for test servers (the same finder the demo uses).
export { freeLoopbackPort as freePort } from '../../simulators/free-port.ts'
