// What a SensorThings request gets instead of an answer: an HTTP status (400 bad request, 404 not
// found or not the caller's, 501 a valid request this service does not implement) and a message
// naming what is wrong. Never a silently different answer.
export class StaError extends Error {
  override name = 'StaError'
  constructor (readonly statusCode: 400 | 404 | 501 | 502 | 503, message: string) {
    super(message)
  }
}

/** 501 for a part of OData or SensorThings this read-only service does not implement. */
export function notImplemented (what: string): StaError {
  return new StaError(501, `not implemented: ${what}`)
}
