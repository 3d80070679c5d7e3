import {
  BadRequestException,
  Injectable,
  type ArgumentMetadata,
  type PipeTransform,
} from '@nestjs/common';
import { ID_PATTERN, findUnsafeInput, validatePayload } from '@ktrdr/contracts';

const PRIMITIVES = new Set<unknown>([String, Boolean, Number, Array, Object]);

/**
 * Validates bodies and queries against their DTO classes with the contracts' wire options
 * (whitelist + forbidNonWhitelisted: unknown fields are a 400 naming the field). Every message
 * starts with the dotted path of the offending field; all problems are reported at once.
 */
@Injectable()
export class WireValidationPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const cls = metadata.metatype;
    if (metadata.type === 'param') return validateParam(value, metadata.data);
    if (metadata.type !== 'body' && metadata.type !== 'query') return value;
    const what = metadata.type === 'body' ? 'body' : 'query';
    if (!cls || PRIMITIVES.has(cls)) {
      // No DTO: still no unsafe input (depth, forbidden keys, unstorable characters).
      const unsafe = value !== null && typeof value === 'object' && findUnsafeInput(value, what);
      if (unsafe) throw new BadRequestException(unsafe);
      return value;
    }
    if (value === undefined && metadata.type === 'body') {
      throw new BadRequestException('body must be a JSON object (content-type: application/json)');
    }
    const outcome = validatePayload(cls as new () => object, value, what);
    if (!outcome.ok) throw new BadRequestException(outcome.errors.join('; '));
    return outcome.value;
  }
}

/** Path parameters named `id` must look like an id (400 naming the parameter otherwise). */
function validateParam(value: unknown, name: string | undefined): unknown {
  if (name === 'id' && (typeof value !== 'string' || !ID_PATTERN.test(value))) {
    throw new BadRequestException(
      'id must be 1–128 characters: letters, digits, ".", "_", ":" or "-", starting with a letter or digit',
    );
  }
  return value;
}
