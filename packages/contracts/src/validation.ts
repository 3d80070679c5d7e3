import { plainToInstance, type ClassConstructor } from 'class-transformer';
import {
  IsUrl,
  Matches,
  MaxLength,
  registerDecorator,
  validateSync,
  type ValidationArguments,
  type ValidationError,
  type ValidationOptions,
} from 'class-validator';
import { applyDecorators } from '@nestjs/common';

/** Ids (workers, operations, leases): 1–128 characters, letters, digits and `._:-`, starting alphanumeric. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const ID_MAX_LENGTH = 128;

export function IsId(options?: ValidationOptions): PropertyDecorator {
  return applyDecorators(
    MaxLength(ID_MAX_LENGTH, {
      ...options,
      message: `$property must be at most ${ID_MAX_LENGTH} characters`,
    }),
    Matches(ID_PATTERN, {
      ...options,
      message:
        '$property must start with a letter or digit and contain only letters, digits, ".", "_", ":" or "-"',
    }),
  );
}

/** An http(s) URL with a host (container names such as `backtest-worker-1` are fine). */
export function IsEndpointUrl(options?: ValidationOptions): PropertyDecorator {
  return IsUrl(
    {
      protocols: ['http', 'https'],
      require_protocol: true,
      require_tld: false,
      require_host: true,
    },
    {
      ...options,
      message: '$property must be an http(s) URL with a host, e.g. http://worker-1:5003',
    },
  );
}

function compareToField(
  name: string,
  property: string,
  test: (value: number, other: number) => boolean,
  describe: string,
  options?: ValidationOptions,
): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: String(propertyName),
      constraints: [property],
      options: { message: `$property must be ${describe} ${property}`, ...options },
      validator: {
        validate(value: unknown, args: ValidationArguments): boolean {
          const other = (args.object as Record<string, unknown>)[args.constraints[0] as string];
          const a = toComparable(value);
          const b = toComparable(other);
          if (a === null || b === null) return true; // the fields' own validators report bad values
          return test(a, b);
        },
      },
    });
  };
}

function toComparable(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string') {
    const t = Date.parse(value);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

/** The value must be strictly less than another numeric field of the same object. */
export function IsLessThanField(property: string, options?: ValidationOptions): PropertyDecorator {
  return compareToField('isLessThanField', property, (a, b) => a < b, 'less than', options);
}

/** The date must be strictly after another date field of the same object. */
export function IsAfterField(property: string, options?: ValidationOptions): PropertyDecorator {
  return compareToField('isAfterField', property, (a, b) => a > b, 'after', options);
}

/**
 * Flattens class-validator errors into one line per problem, each starting with the dotted path
 * of the offending field, e.g. `strategy.fast_period must be less than slow_period`.
 */
export function formatValidationErrors(errors: ValidationError[], parent = ''): string[] {
  const lines: string[] = [];
  for (const error of errors) {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const messages = Object.values(error.constraints ?? {});
    const unknown = messages.some((m) => /^property .* should not exist$/.test(m));
    if (unknown) {
      lines.push(`${path}: unknown field (not allowed)`);
    } else if (error.value === undefined && messages.length > 0 && !error.children?.length) {
      // A missing field fails every constraint it has; one line says what is wrong.
      lines.push(`${path} is required`);
    } else {
      for (const message of messages) {
        // class-validator messages start with the bare property name; put the full path first.
        lines.push(
          message.startsWith(error.property)
            ? `${path} ${message.slice(error.property.length).trimStart()}`
            : `${path}: ${message}`,
        );
      }
    }
    if (error.children && error.children.length > 0) {
      lines.push(...formatValidationErrors(error.children, path));
    }
  }
  return lines;
}

/** The options the backend and the workers validate wire payloads with. */
export const WIRE_VALIDATION_OPTIONS = {
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
} as const;

export type ValidationOutcome<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/** Validates a plain payload against a DTO class; returns the typed instance or one line per problem. */
export function validatePayload<T extends object>(
  cls: ClassConstructor<T>,
  payload: unknown,
): ValidationOutcome<T> {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    return { ok: false, errors: ['body must be a JSON object'] };
  }
  const instance = plainToInstance(cls, payload, { enableImplicitConversion: false });
  const errors = validateSync(instance, WIRE_VALIDATION_OPTIONS);
  if (errors.length > 0) return { ok: false, errors: formatValidationErrors(errors) };
  return { ok: true, value: instance };
}
