// The `citygw` command tree, composed here because only this layer sees both the gateway (broker/)
// and the simulators: the gateway must run without them. Building the tree has no side effects;
// cli/index.ts parses the command line.
import { Command } from 'commander'
import { addCrewCommands, addOperatorCommands } from './accounts.ts'
import { addCertCommand } from './cert.ts'
import { addClusterCommands } from './cluster.ts'
import { addConsumerCommands } from './consumer.ts'
import { addDeviceCommands } from './device.ts'
import { addIncidentCommands } from './incident.ts'
import { addKeyCommands } from './key.ts'
import { addMaintenanceCommands } from './maintenance.ts'
import { addRegistryCommands } from './registry.ts'
import { addSchemaCommand } from './schema.ts'
import { addSessionCommands } from './session.ts'
import { addSimulateCommand } from './simulate.ts'
import { addStartCommand } from './start.ts'

export function createProgram (): Command {
  const program = new Command('citygw')
    .description('MQTT gateway for a city\'s street sensors')
    .showHelpAfterError()
  // The order here is the order of `citygw --help`.
  addStartCommand(program)
  addSchemaCommand(program)
  addDeviceCommands(program)
  addCrewCommands(program)
  addOperatorCommands(program)
  addConsumerCommands(program)
  addRegistryCommands(program)
  addSessionCommands(program)
  addMaintenanceCommands(program)
  addIncidentCommands(program)
  addClusterCommands(program)
  addCertCommand(program)
  addKeyCommands(program)
  addSimulateCommand(program)
  return program
}
