// Socket bytes → the same bytes, but a packet whose MQTT "remaining length" exceeds the limit
// destroys the stream before its body is buffered. Aedes 1.x (and mqtt-packet's parser) would
// otherwise accumulate packets of up to 256 MB in memory before anyone could look at them.
import { Transform, type TransformCallback } from 'node:stream'
import { GatewayError } from '../errors.ts'

/** Parser states; only the fixed header is decoded, bodies are skipped by counting. */
const enum State { TypeByte, Length, Body }

export class PacketSizeGuard extends Transform {
  readonly maxPacketBytes: number
  private state = State.TypeByte
  private length = 0
  private multiplier = 1
  private lengthBytes = 0
  private bodyLeft = 0

  constructor (maxPacketBytes: number) {
    super()
    this.maxPacketBytes = maxPacketBytes
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let i = 0
    while (i < chunk.length) {
      if (this.state === State.Body) {
        const skip = Math.min(this.bodyLeft, chunk.length - i)
        this.bodyLeft -= skip
        i += skip
        if (this.bodyLeft === 0) this.state = State.TypeByte
        continue
      }
      const byte = chunk[i++] as number
      if (this.state === State.TypeByte) {
        this.state = State.Length
        this.length = 0
        this.multiplier = 1
        this.lengthBytes = 0
        continue
      }
      // Remaining length: up to four 7-bit groups, least significant first [MQTT-2.2.3].
      this.length += (byte & 0x7f) * this.multiplier
      this.multiplier *= 128
      this.lengthBytes++
      if (this.length > this.maxPacketBytes) {
        callback(new GatewayError('CSG_PAYLOAD_TOO_LARGE', `MQTT packet of ${this.length}+ bytes exceeds the limit of ${this.maxPacketBytes}`))
        return
      }
      if ((byte & 0x80) === 0 || this.lengthBytes === 4) {
        this.bodyLeft = this.length
        this.state = this.bodyLeft === 0 ? State.TypeByte : State.Body
      }
    }
    callback(null, chunk)
  }
}
