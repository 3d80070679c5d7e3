import { lazy, Suspense } from 'react';
import { ApiKeyPanel } from './components/ApiKey';
import { useLive } from './live/LiveContext';
import { useRoute, type Route } from './lib/route';
import { Fleet } from './views/Fleet';
import { NewRun } from './views/NewRun';
import { OperationsTable, QueuePanel, RunningPanel } from './views/Operations';
import { SweepDetail } from './views/SweepDetail';

// The charts (Recharts) load with the operation page only: the overview stays small.
const OperationDetail = lazy(() =>
  import('./views/OperationDetail').then((m) => ({ default: m.OperationDetail })),
);

function LiveIndicator() {
  const { mode, detail } = useLive();
  const text = mode === 'live' ? 'live' : mode === 'connecting' ? 'connecting' : 'polling';
  return (
    <span className={`live live-${mode}`} title={detail} data-testid="live-mode" data-mode={mode}>
      <span aria-hidden="true">{mode === 'live' ? '● ' : mode === 'connecting' ? '◌ ' : '↻ '}</span>
      {text}
      <span className="sr-only">: {detail}</span>
    </span>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'overview':
      return (
        <>
          <Fleet />
          <RunningPanel />
          <QueuePanel />
          <OperationsTable title="Recent operations" />
        </>
      );
    case 'operations':
      return <OperationsTable />;
    case 'operation':
      return (
        <Suspense fallback={<p className="empty">Loading…</p>}>
          <OperationDetail key={route.id} id={route.id} />
        </Suspense>
      );
    case 'sweep':
      return <SweepDetail key={route.id} id={route.id} />;
    case 'new':
      return <NewRun kind={route.kind} />;
    default:
      return (
        <section className="panel">
          <h2>Not found</h2>
          <p>
            Nothing at <code>{route.path}</code>. <a href="#/">Back to the overview</a>.
          </p>
        </section>
      );
  }
}

const NAV: Array<{ href: string; label: string; match: (r: Route) => boolean }> = [
  { href: '#/', label: 'Overview', match: (r) => r.page === 'overview' },
  {
    href: '#/operations',
    label: 'Operations',
    match: (r) => r.page === 'operations' || r.page === 'operation',
  },
  { href: '#/new/backtest', label: 'New run', match: (r) => r.page === 'new' },
];

export function App() {
  const route = useRoute();
  return (
    <>
      <a
        className="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header className="top">
        <h1>
          <a href="#/">KTRDR</a> <span className="sub">workers</span>
        </h1>
        <nav aria-label="Main">
          {NAV.map((n) => (
            <a key={n.href} href={n.href} aria-current={n.match(route) ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <div className="top-right">
          <LiveIndicator />
          <ApiKeyPanel />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}
