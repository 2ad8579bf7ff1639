// Refuses request bodies that are not JSON before Elysia parses them, so a
// form post or text body gets 415 instead of a confusing validation error.
import { Elysia } from 'elysia'
import { AppError } from '../errors'

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH'])

function hasBody(request: Request): boolean {
  const length = request.headers.get('content-length')
  if (length !== null) return length !== '0'
  return request.headers.has('transfer-encoding')
}

export const jsonBodyOnly = new Elysia({ name: 'gozon.json-body' }).onRequest(({ request }) => {
  if (!METHODS_WITH_BODY.has(request.method) || !hasBody(request)) return
  const type = request.headers.get('content-type') ?? ''
  const mediaType = type.split(';')[0]!.trim().toLowerCase()
  if (mediaType !== 'application/json') throw new AppError('unsupported_media_type')
})
