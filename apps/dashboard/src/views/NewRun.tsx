import { useQueryClient } from '@tanstack/react-query';
import { useMemo, useState, type FormEvent } from 'react';
import { errorText } from '@ktrdr/contracts/constants';
import openapi from '../../../../docs/openapi.json';
import { api, ApiError, apiErrorText, apiPath } from '../api/client';
import { invalidateOperations } from '../api/queries';
import type {
  BacktestStartRequestDto,
  StartOperationResponseDto,
  SweepStartResponseDto,
  TrainingStartRequestDto,
} from '../api/types';
import {
  buildBody,
  flatten,
  formFields,
  initialValues,
  isVisible,
  splitFieldErrors,
  type FieldSpec,
  type FormValues,
  type OpenApiDoc,
  type SplitErrors,
} from '../lib/schema';

const doc = openapi as unknown as OpenApiDoc;

type Kind = 'backtest' | 'training';

const KINDS: Record<
  Kind,
  {
    schema: string;
    route: 'backtestsStart' | 'trainingsStart';
    sweepRoute: 'backtestsSweep' | 'trainingsSweep';
    sweepSchema: string;
    title: string;
  }
> = {
  backtest: {
    schema: 'BacktestStartRequestDto',
    route: 'backtestsStart',
    sweepRoute: 'backtestsSweep',
    sweepSchema: 'BacktestSweepRequestDto',
    title: 'Backtest',
  },
  training: {
    schema: 'TrainingStartRequestDto',
    route: 'trainingsStart',
    sweepRoute: 'trainingsSweep',
    sweepSchema: 'TrainingSweepRequestDto',
    title: 'Training',
  },
};

/** The request bodies the two forms send (typed by the contracts). */
type StartBody = BacktestStartRequestDto | TrainingStartRequestDto;

const label = (name: string) => name.replace(/_/g, ' ');
const fieldId = (kind: Kind, path: string) => `f-${kind}-${path.replace(/\./g, '-')}`;

interface FieldProps {
  kind: Kind;
  f: FieldSpec;
  values: FormValues;
  errors: SplitErrors['byField'];
  set(path: string, v: string | string[]): void;
}

function Help({ f }: { f: FieldSpec }) {
  const bits: string[] = [];
  if (f.description) bits.push(f.description);
  if (f.default !== undefined)
    bits.push(`default ${Array.isArray(f.default) ? f.default.join(', ') : String(f.default)}`);
  if (f.minimum !== undefined || f.maximum !== undefined)
    bits.push(`${f.minimum ?? '…'} to ${f.maximum ?? '…'}`);
  return bits.length ? <span className="help">{bits.join(' · ')}</span> : null;
}

function FieldErrors({ id, lines }: { id: string; lines: string[] | undefined }) {
  if (!lines?.length) return null;
  return (
    <span id={id} className="field-error" data-testid="field-error">
      {lines.map((l) => (
        <span key={l}>
          <span aria-hidden="true">✗ </span>
          {l}
        </span>
      ))}
    </span>
  );
}

function Field({ kind, f, values, errors, set }: FieldProps) {
  if (!isVisible(f, values)) return null;
  const id = fieldId(kind, f.path);
  const errId = `${id}-error`;
  const err = errors[f.path];
  if (f.kind === 'group') {
    return (
      <fieldset className="group" data-field={f.path}>
        <legend>
          {label(f.name)}
          {f.required ? '' : ' (optional)'}
        </legend>
        {f.description && <p className="help">{f.description}</p>}
        <FieldErrors id={errId} lines={err} />
        {(f.children ?? []).map((c) => (
          <Field key={c.path} kind={kind} f={c} values={values} errors={errors} set={set} />
        ))}
      </fieldset>
    );
  }
  if (f.kind === 'multiselect') {
    const selected = (values[f.path] as string[] | undefined) ?? [];
    return (
      <fieldset
        className="group checks"
        data-field={f.path}
        aria-describedby={err ? errId : undefined}
      >
        <legend>{label(f.name)} (optional)</legend>
        <Help f={f} />
        {f.options!.map((o) => (
          <label key={o} className="check">
            <input
              type="checkbox"
              checked={selected.includes(o)}
              onChange={(e) =>
                set(f.path, e.target.checked ? [...selected, o] : selected.filter((x) => x !== o))
              }
            />{' '}
            {o}
          </label>
        ))}
        <FieldErrors id={errId} lines={err} />
      </fieldset>
    );
  }
  const common = {
    id,
    name: f.path,
    'aria-invalid': err ? true : undefined,
    'aria-describedby': err ? errId : undefined,
    'aria-required': f.required || undefined,
  } as const;
  const value = (values[f.path] as string | undefined) ?? '';
  return (
    <div className={`field${err ? ' has-error' : ''}`} data-field={f.path}>
      <label htmlFor={id}>
        {label(f.name)}
        {f.required || f.showWhen ? <span aria-hidden="true"> *</span> : ''}
      </label>
      {f.kind === 'select' ? (
        <select {...common} value={value} onChange={(e) => set(f.path, e.target.value)}>
          {!f.required && <option value="">(default)</option>}
          {f.options!.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      ) : (
        <input
          {...common}
          type="text"
          inputMode={f.kind === 'number' ? 'decimal' : undefined}
          value={value}
          placeholder={
            f.default !== undefined
              ? String(f.default)
              : f.example !== undefined
                ? `e.g. ${Array.isArray(f.example) ? f.example.join(', ') : String(f.example)}`
                : undefined
          }
          onChange={(e) => set(f.path, e.target.value)}
        />
      )}
      <Help f={f} />
      <FieldErrors id={errId} lines={err} />
    </div>
  );
}

function StartForm({ kind }: { kind: Kind }) {
  const spec = KINDS[kind];
  const fields = useMemo(() => formFields(doc, spec.schema), [spec.schema]);
  const paths = useMemo(() => [...flatten(fields).map((f) => f.path), 'grid'], [fields]);
  const gridHelp = doc.components.schemas[spec.sweepSchema]?.properties?.grid?.description;
  const [grid, setGrid] = useState('');
  const [sweepAnswer, setSweepAnswer] = useState<SweepStartResponseDto | null>(null);
  const [values, setValues] = useState<FormValues>(() => initialValues(fields));
  const [errors, setErrors] = useState<SplitErrors>({ byField: {}, general: [] });
  const [answer, setAnswer] = useState<StartOperationResponseDto | null>(null);
  const [busy, setBusy] = useState(false);
  const qc = useQueryClient();

  function set(path: string, v: string | string[]) {
    setValues((old) => {
      const next = { ...old, [path]: v };
      // Switching the strategy type: seed the new type's fields with the contract's examples.
      for (const f of flatten(fields)) {
        if (
          f.showWhen?.path === path &&
          f.showWhen.value === v &&
          !next[f.path] &&
          f.example !== undefined
        )
          next[f.path] = String(f.example);
      }
      return next;
    });
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setAnswer(null);
    setSweepAnswer(null);
    setErrors({ byField: {}, general: [] });
    const body = buildBody(fields, values) as unknown as StartBody;
    try {
      if (grid.trim()) {
        // A grid makes it a sweep: one run per combination of its values.
        let parsed: unknown;
        try {
          parsed = JSON.parse(grid);
        } catch (err) {
          setErrors({
            byField: { grid: [`grid is not valid JSON: ${errorText(err)}`] },
            general: [],
          });
          return;
        }
        const r = await api<SweepStartResponseDto>('POST', apiPath(spec.sweepRoute), {
          base: body,
          grid: parsed,
        });
        setSweepAnswer(r);
      } else {
        const r = await api<StartOperationResponseDto>('POST', apiPath(spec.route), body);
        setAnswer(r);
      }
      invalidateOperations(qc);
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) {
        setErrors(splitFieldErrors(err.message, paths));
      } else {
        const retry =
          err instanceof ApiError && err.retryAfter ? ` (retry in ${err.retryAfter}s)` : '';
        setErrors({ byField: {}, general: [`${apiErrorText(err)}${retry}`] });
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      onSubmit={(e) => void submit(e)}
      noValidate
      aria-labelledby={`form-${kind}-h`}
      data-testid={`form-${kind}`}
    >
      <h2 id={`form-${kind}-h`}>Start a {spec.title.toLowerCase()}</h2>
      <p className="help">
        Fields and their defaults come from the API's own contract ({spec.schema}); the backend
        validates, and its messages appear next to the field they name.
      </p>
      {fields.map((f) => (
        <Field key={f.path} kind={kind} f={f} values={values} errors={errors.byField} set={set} />
      ))}
      <fieldset className="group" data-field="grid">
        <legend>sweep (optional)</legend>
        <div className={`field${errors.byField.grid ? ' has-error' : ''}`}>
          <label htmlFor={`f-${kind}-grid`}>grid (JSON)</label>
          <textarea
            id={`f-${kind}-grid`}
            rows={2}
            value={grid}
            placeholder='{"fast_period": [5, 10, 20], "slow_period": [30, 60]}'
            aria-invalid={errors.byField.grid ? true : undefined}
            aria-describedby={errors.byField.grid ? `f-${kind}-grid-error` : undefined}
            onChange={(e) => setGrid(e.target.value)}
          />
          <span className="help">
            One run per combination of the values, ranked on the sweep page.{' '}
            {gridHelp ? `${gridHelp}.` : ''}
          </span>
          <FieldErrors id={`f-${kind}-grid-error`} lines={errors.byField.grid} />
        </div>
      </fieldset>
      {errors.general.length > 0 && (
        <div className="failure" role="alert" data-testid="form-error">
          {errors.general.map((l) => (
            <div key={l}>
              <span aria-hidden="true">✗ </span>
              {l}
            </div>
          ))}
        </div>
      )}
      {Object.keys(errors.byField).length > 0 && (
        <p className="field-error" role="alert">
          The backend refused the request: {Object.keys(errors.byField).join(', ')} (see the
          fields).
        </p>
      )}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy
            ? 'Starting…'
            : grid.trim()
              ? `Start ${spec.title.toLowerCase()} sweep`
              : `Start ${spec.title.toLowerCase()}`}
        </button>
        <button
          type="button"
          onClick={() => {
            setValues(initialValues(fields));
            setGrid('');
            setErrors({ byField: {}, general: [] });
          }}
        >
          Reset
        </button>
      </div>
      {sweepAnswer && (
        <p className="ok-line" role="status" data-testid="start-answer">
          <span aria-hidden="true">✓ </span>
          Queued sweep{' '}
          <a href={`#/sweeps/${encodeURIComponent(sweepAnswer.sweep_id)}`} className="mono">
            {sweepAnswer.sweep_id}
          </a>{' '}
          — {sweepAnswer.total} runs
        </p>
      )}
      {answer && (
        <p className="ok-line" role="status" data-testid="start-answer">
          <span aria-hidden="true">✓ </span>
          Started{' '}
          <a href={`#/operations/${encodeURIComponent(answer.operation_id)}`} className="mono">
            {answer.operation_id}
          </a>{' '}
          — {answer.status}
          {answer.queue_position ? `, queue position ${answer.queue_position}` : ''}
          {answer.worker_id ? `, on ${answer.worker_id}` : ''}
          {answer.message ? `. ${answer.message}` : ''}
        </p>
      )}
    </form>
  );
}

export function NewRun({ kind }: { kind: Kind }) {
  return (
    <section className="panel" aria-label="New run">
      <nav className="tabs" aria-label="What to start">
        {(Object.keys(KINDS) as Kind[]).map((k) => (
          <a key={k} href={`#/new/${k}`} aria-current={k === kind ? 'page' : undefined}>
            {KINDS[k].title}
          </a>
        ))}
      </nav>
      <StartForm key={kind} kind={kind} />
    </section>
  );
}
