// Audit: the event log's tail, newest first (GET /api/v1/events?tail=1), filtered by
// event type and device, with links to devices and to the version a completion made;
// then the quarantine list (GET /api/v1/quarantine).
import {get_json} from './api.js';
import {append, clock, device_href, el, notice, replace, time_el} from './dom.js';

const TYPES = ['InventoryApplied', 'LeaseGranted', 'LeaseExpired', 'CompletionRecorded',
               'OccurrenceClosed', 'RunRequested'];
const PAGE = 100;
const SHOWN_ELSEWHERE = new Set(['seq', 'type', 'at', 'device', 'job', 'failure', 'spool']);
const TIME_FIELDS = new Set(['timestamp', 'deadline', 'job_timestamp', 'start_timestamp',
                             'end_timestamp']);

function read_state() {
  const p = new URLSearchParams(location.search);
  return {type: TYPES.includes(p.get('type')) ? p.get('type') : '', device: p.get('device') || ''};
}

export async function render(main) {
  document.title = 'Audit · netkeep';
  const state = read_state();
  const form = el('form', {class: 'filters', role: 'search'},
    el('label', {class: 'field'}, el('span', {}, 'Event type'),
       el('select', {name: 'type'}, el('option', {value: ''}, 'all'),
          TYPES.map((t) => el('option', {value: t, selected: t === state.type}, t)))),
    el('label', {class: 'field'}, el('span', {}, 'Device'),
       el('input', {name: 'device', type: 'search', value: state.device, autocomplete: 'off',
                    spellcheck: 'false', placeholder: 'exact name'})),
    el('div', {class: 'actions'}, el('button', {type: 'submit'}, 'Filter')));
  const list = el('div', {'aria-live': 'polite'});
  const quarantine = el('section', {id: 'quarantine'});
  append(main, [el('h1', {}, 'Audit'), form, list, el('h2', {}, 'Quarantine'), quarantine]);
  const view = {state, list, rows: null, more: null, now: Date.now() / 1000};
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const d = new FormData(form);
    view.state = {type: d.get('type'), device: d.get('device').trim()};
    const p = new URLSearchParams(Object.entries(view.state).filter(([, v]) => v));
    history.replaceState(null, '', p.toString() ? `/ui/audit?${p}` : '/ui/audit');
    load(view, null);
  });
  form.elements.type.addEventListener('change', () => form.requestSubmit());
  await Promise.all([load(view, null), load_quarantine(quarantine)]);
}

async function load(view, before) {
  let r;
  try {
    r = await get_json('/api/v1/events', {tail: 1, limit: PAGE, before, type: view.state.type,
                                          device: view.state.device});
  } catch (e) {
    replace(view.list, notice(`Cannot read the event log: ${e.message}`));
    return;
  }
  if (before === null) {
    view.rows = el('tbody', {});
    view.more = el('p', {class: 'actions'});
    replace(view.list, el('p', {class: 'muted'}, `Log at seq ${r.last_seq}.`),
            el('div', {class: 'table-wrap'}, el('table', {class: 'events'},
              el('thead', {}, el('tr', {}, ['Seq', 'Time', 'Type', 'Device', 'Job', 'Details'].map(
                (h) => el('th', {scope: 'col', class: `col-${h.toLowerCase()}`}, h)))), view.rows)),
            view.more);
  }
  append(view.rows, r.events.map((e) => event_row(e, view.now)));
  if (!view.rows.children.length) {
    view.rows.append(el('tr', {}, el('td', {colspan: 6, class: 'empty'}, 'No event matches.')));
  }
  replace(view.more, r.next_before ?
    el('button', {type: 'button', class: 'secondary', onclick: () => load(view, r.next_before)},
       'Older events') : null);
}

function details(e) {
  const parts = [];
  if (e.type === 'CompletionRecorded') {
    if (e.failure !== null && e.failure !== undefined) {
      parts.push(el('div', {class: 'failure-text-full'}, e.failure));
    } else if (e.device) {
      parts.push(el('a', {href: device_href(e.device, {job: e.job, seq: e.seq})}, 'version'), ' ');
    }
  }
  for (const [k, v] of Object.entries(e)) {
    if (SHOWN_ELSEWHERE.has(k) || v === null || v === undefined) continue;
    let text = typeof v === 'object' ? JSON.stringify(v) : String(v);
    let title = null;
    if (TIME_FIELDS.has(k) && typeof v === 'number') {
      title = `${v} (${new Date(v * 1000).toISOString()})`;
      text = clock(v);
    } else if (k === 'sha256') {
      title = text;
      text = text.slice(0, 12);
    }
    parts.push(el('span', {class: 'kv', title}, el('span', {class: 'k'}, k), '=', text), ' ');
  }
  return parts;
}

function event_row(e, now) {
  return el('tr', {class: e.failure ? 'failing' : null, 'data-seq': e.seq},
    el('td', {'data-label': 'Seq', class: 'num'}, String(e.seq)),
    el('td', {'data-label': 'Time'}, time_el(e.at, now)),
    el('td', {'data-label': 'Type'}, e.type),
    el('td', {'data-label': 'Device'}, e.device ? el('a', {href: device_href(e.device)}, e.device) : ''),
    el('td', {'data-label': 'Job'}, e.job || ''),
    el('td', {'data-label': 'Details', class: 'details'}, details(e)));
}

async function load_quarantine(box) {
  let r;
  try {
    r = await get_json('/api/v1/quarantine');
  } catch (e) {
    replace(box, notice(`Cannot read the quarantine list: ${e.message}`, 'info'));
    return;
  }
  if (!r.quarantined.length) {
    replace(box, el('p', {class: 'muted'}, 'Nothing is quarantined.'));
    return;
  }
  replace(box, el('div', {class: 'table-wrap'}, el('table', {class: 'quarantine'},
    el('thead', {}, el('tr', {}, ['Seq', 'State', 'Attempts', 'Since', 'Detail'].map(
      (h) => el('th', {scope: 'col'}, h)))),
    el('tbody', {}, r.quarantined.map((q) => el('tr', {},
      el('td', {'data-label': 'Seq', class: 'num'}, String(q.seq)),
      el('td', {'data-label': 'State'}, q.state),
      el('td', {'data-label': 'Attempts', class: 'num'}, String(q.attempts)),
      el('td', {'data-label': 'Since'}, time_el(q.at, Date.now() / 1000)),
      el('td', {'data-label': 'Detail'}, q.detail)))))));
}
