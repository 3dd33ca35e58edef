// `citygw schema <kind>`: prints the JSON Schema of one reading of a device kind.
import type { Command } from 'commander'
import { getKind, kindNames } from '../devices/index.ts'
import { kindJsonSchema } from '../devices/json-schema.ts'
import { print } from './output.ts'

export function addSchemaCommand (program: Command): void {
  program.command('schema')
    .description('print the JSON Schema of one reading of a device kind (for firmware teams)')
    .addArgument(program.createArgument('<kind>', 'device kind').choices(kindNames))
    .action(function printSchema (kindName: string) {
      const kind = getKind(kindName)
      if (kind !== undefined) print(JSON.stringify(kindJsonSchema(kind), null, 2))
    })
}
