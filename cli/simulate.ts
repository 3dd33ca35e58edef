// `citygw simulate`: declares the options; simulators/cli.ts checks them and runs the simulation.
// The simulators are imported only inside the action (the type import below is erased), so
// `citygw start` and the other commands never load them.
import type { Command } from 'commander'
import type { SimulateCliOptions } from '../simulators/cli.ts'
import { collectValues, parseNumber } from './output.ts'

export function addSimulateCommand (program: Command): void {
  program.command('simulate')
    .description('simulate a district of devices (models, scripted faults, time compression) or, with --load, a load generator')
    .option('--url <url>', 'broker URL: mqtt://, mqtts://, ws:// or wss://', `mqtt://127.0.0.1:${process.env.MQTT_PORT ?? '1883'}`)
    .option('--lamp-posts <n>', 'lamp posts (default fleet: 3 lamp posts, 2 water pipes, 2 manholes)', parseNumber)
    .option('--water-pipes <n>', 'water pipes', parseNumber)
    .option('--manholes <n>', 'manholes', parseNumber)
    .option('--district <name>', 'district of the simulated devices (device ids start with it)', 'sim')
    .option('--lat <deg>', 'latitude of the district: gives dusk and dawn', parseNumber, 52.37)
    .option('--lon <deg>', 'longitude of the district: gives local solar time', parseNumber, 4.89)
    .option('--interval <duration>', 'simulated time between two readings of a device (90, 90s, 2m)', '60')
    .option('--duration <duration>', 'real run time (90, 2m, 1h); default: until Ctrl-C (load mode: 30 s)')
    .option('--speed <n>', 'time compression: simulated time runs n× faster (it ends at the real clock)', parseNumber, 1)
    .option('--start <iso>', 'simulated start time (default: now − duration × speed)')
    .option('--scenario <name@offset[+duration][:deviceId]>', 'inject a fault at a simulated offset, e.g. pipe-burst@2m (repeatable)', collectValues, [])
    .option('--seed <n>', 'random seed: the same seed repeats the same readings', parseNumber, 1)
    .option('--provision', 'register the fleet (and a crew) in the registry (DATA_DIR, or the cluster\'s with NATS_URL) and write a fleet file (mode 0600)')
    .option('--fleet <file>', 'fleet file with the devices\' credentials (written by --provision)')
    .option('--crew <name>', 'watch alarms as this crew (secret in CITYGW_CREW_SECRET); default: the fleet file\'s crew')
    .option('--no-alarms', 'do not subscribe to alarms')
    .option('--ca <file>', 'CA certificate (PEM) for mqtts:// or wss://')
    .option('--insecure', 'accept any server certificate (development only)')
    .option('--json', 'print one JSON summary on stdout')
    .option('--load', 'load mode: many devices at a target rate, reporting rate and publish→PUBACK latency')
    .option('--devices <n>', 'load mode: number of devices (default 100)', parseNumber)
    .option('--rate <msgs/s>', 'load mode: total messages per second (default: as fast as --window allows)', parseNumber)
    .option('--qos <0|1>', 'load mode: QoS of the publishes', '1')
    .option('--window <n>', 'load mode: publishes in flight per device (default 16 without --rate, 100 with)', parseNumber)
    .option('--warmup <duration>', 'load mode: load before the measured window', '2')
    .action(async function simulate (opts: SimulateCliOptions) {
      const { runSimulateCommand } = await import('../simulators/cli.ts')
      await runSimulateCommand(opts)
    })
}
