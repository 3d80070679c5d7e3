import { isoTime, parseIsoTime } from './iso';
import type { Trade } from './types';

/** The columns of the trade table, in the order the results artifact stores them. */
export const TRADE_COLUMNS = [
  'entry_time',
  'exit_time',
  'entry_price',
  'exit_price',
  'quantity',
  'pnl',
  'return_pct',
  'bars_held',
] as const;
export type TradeColumn = (typeof TRADE_COLUMNS)[number];

/**
 * Every closed trade of a run as parallel columns of `length` values: the fields of {@link Trade},
 * with the entry and exit times as epoch milliseconds (the bars' own times) instead of ISO text.
 * A run with 100,000 trades keeps eight arrays instead of 100,000 objects and 200,000 strings.
 */
export type TradeColumns = Record<TradeColumn, Float64Array> & { length: number };

/** Appends trades to growing columns; `columns()` returns exact-length copies. */
export class TradeLog {
  private cap = 256;
  private n = 0;
  private cols = TradeLog.alloc(this.cap);

  private static alloc(cap: number): Record<TradeColumn, Float64Array> {
    const out = {} as Record<TradeColumn, Float64Array>;
    for (const c of TRADE_COLUMNS) out[c] = new Float64Array(cap);
    return out;
  }

  get length(): number {
    return this.n;
  }

  push(
    entryTime: number,
    exitTime: number,
    entryPrice: number,
    exitPrice: number,
    quantity: number,
    pnl: number,
    returnPct: number,
    barsHeld: number,
  ): void {
    if (this.n === this.cap) this.grow();
    const k = this.n++;
    const c = this.cols;
    c.entry_time[k] = entryTime;
    c.exit_time[k] = exitTime;
    c.entry_price[k] = entryPrice;
    c.exit_price[k] = exitPrice;
    c.quantity[k] = quantity;
    c.pnl[k] = pnl;
    c.return_pct[k] = returnPct;
    c.bars_held[k] = barsHeld;
  }

  private grow(): void {
    this.cap *= 2;
    const next = TradeLog.alloc(this.cap);
    for (const c of TRADE_COLUMNS) next[c].set(this.cols[c]);
    this.cols = next;
  }

  /** Copies (not views: a view would carry the whole grown buffer through postMessage). */
  columns(): TradeColumns {
    const out = { length: this.n } as TradeColumns;
    for (const c of TRADE_COLUMNS) out[c] = this.cols[c].slice(0, this.n);
    return out;
  }
}

/** The trades as objects with ISO-8601 times (for JSON and for readers who want rows). */
export function tradeList(t: TradeColumns): Trade[] {
  const out: Trade[] = new Array<Trade>(t.length);
  for (let k = 0; k < t.length; k++) {
    out[k] = {
      entry_time: isoTime(t.entry_time[k]),
      exit_time: isoTime(t.exit_time[k]),
      entry_price: t.entry_price[k],
      exit_price: t.exit_price[k],
      quantity: t.quantity[k],
      pnl: t.pnl[k],
      return_pct: t.return_pct[k],
      bars_held: t.bars_held[k],
    };
  }
  return out;
}

/** The inverse of {@link tradeList}: columns from trade objects (times parsed back to epoch ms). */
export function tradeColumnsOf(trades: readonly Trade[]): TradeColumns {
  const log = new TradeLog();
  for (const t of trades) {
    log.push(
      parseIsoTime(t.entry_time),
      parseIsoTime(t.exit_time),
      t.entry_price,
      t.exit_price,
      t.quantity,
      t.pnl,
      t.return_pct,
      t.bars_held,
    );
  }
  return log.columns();
}
