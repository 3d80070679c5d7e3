/** Last day formatted by {@link isoTime}: trades cluster in time, so most share the day's prefix. */
let isoDay = NaN;
let isoPrefix = '';
const pad2 = (x: number): string => (x < 10 ? '0' : '') + String(x);

/** Largest epoch ms whose ISO form has a four-digit year (9999-12-31T23:59:59.999Z). */
const ISO_FAST_MAX = 253_402_300_799_999;

/**
 * `new Date(ms).toISOString()`, character for character, with the date part cached per day (one
 * Date per day instead of one per call). Non-integer or out-of-range times take the Date path.
 */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > ISO_FAST_MAX) return new Date(ms).toISOString();
  const day = Math.floor(ms / 86_400_000);
  if (day !== isoDay) {
    isoPrefix = new Date(day * 86_400_000).toISOString().slice(0, 11);
    isoDay = day;
  }
  let rem = ms - day * 86_400_000;
  const millis = rem % 1000;
  rem = (rem - millis) / 1000;
  const sec = rem % 60;
  rem = (rem - sec) / 60;
  const min = rem % 60;
  const hour = (rem - min) / 60;
  const msText = millis < 10 ? `00${millis}` : millis < 100 ? `0${millis}` : String(millis);
  return `${isoPrefix}${pad2(hour)}:${pad2(min)}:${pad2(sec)}.${msText}Z`;
}

let parseDayText = '';
let parseDayMs = NaN;

const digit = (s: string, i: number): number => {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : NaN;
};

/**
 * `Date.parse(text)`, with a fast path for the exact form {@link isoTime} writes
 * (`YYYY-MM-DDTHH:MM:SS.mmmZ`): the date part is parsed once per day, the clock by digits.
 * Anything else (and any malformed clock) takes `Date.parse`.
 */
export function parseIsoTime(text: string): number {
  if (
    text.length !== 24 ||
    text.charCodeAt(10) !== 84 || // T
    text.charCodeAt(13) !== 58 ||
    text.charCodeAt(16) !== 58 ||
    text.charCodeAt(19) !== 46 ||
    text.charCodeAt(23) !== 90 // Z
  ) {
    return Date.parse(text);
  }
  const hour = digit(text, 11) * 10 + digit(text, 12);
  const min = digit(text, 14) * 10 + digit(text, 15);
  const sec = digit(text, 17) * 10 + digit(text, 18);
  const millis = digit(text, 20) * 100 + digit(text, 21) * 10 + digit(text, 22);
  if (!(hour <= 23 && min <= 59 && sec <= 59 && millis >= 0)) return Date.parse(text);
  if (parseDayText === '' || !text.startsWith(parseDayText)) {
    const dayText = text.slice(0, 11);
    parseDayMs = Date.parse(`${dayText}00:00:00.000Z`);
    parseDayText = dayText;
  }
  return parseDayMs + ((hour * 60 + min) * 60 + sec) * 1000 + millis;
}
