// Status: server version, uptime, log sequence, git-writer lag, spool, workers seen,
// readiness and its reasons (GET /api/v1/status). Refreshed every 10 s.
import {get_json} from './api.js';
import {append, bytes, el, notice, replace, time_el} from './dom.js';

function duration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

export async function render(main) {
  document.title = 'Status · netkeep';
  const box = el('div', {});
  append(main, [el('h1', {}, 'Status'), box]);
  const load = async () => {
    try {
      draw(box, await get_json('/api/v1/status'));
    } catch (e) {
      replace(box, notice(`Cannot read the status: ${e.message}`));
    }
  };
  await load();
  setInterval(() => { if (!document.hidden) load(); }, 10000);
}

function item(label, ...value) { return [el('dt', {}, label), el('dd', {}, value)]; }

function draw(box, s) {
  const ready = el('p', {class: `ready ${s.ready ? 'ok' : 'bad'}`, 'data-field': 'ready'},
                   s.ready ? 'Ready' : 'Not ready');
  const reasons = (s.reasons || []).length ?
    el('ul', {class: 'reasons'}, s.reasons.map((r) => el('li', {}, r))) : null;
  const git = s.git ?
    [item('Git applied seq', s.git.applied_seq === null ? '—' : String(s.git.applied_seq)),
     item('Git lag', `${s.git.lag_events} events, ${Number(s.git.lag_seconds).toFixed(1)} s`)] :
    item('Git writer', 'not running');
  const t = s.tasks || {};
  const grid = el('dl', {class: 'summary wide'},
    item('Version', s.version), item('Started', time_el(s.started_at, s.now)),
    item('Uptime', duration(s.uptime_seconds)),
    item('Log last seq', String(s.log.last_seq)), item('Projection seq', String(s.log.projection_seq)),
    git,
    item('Spool', s.spool ? `${s.spool.files} files, ${bytes(s.spool.bytes)}` : '—'),
    item('Tasks', `${t.total} total: ${t.due} due, ${t.scheduled} scheduled, ${t.leased} leased, ` +
                  `${t.retrying} retrying, ${t.overdue} overdue`),
    item('Versions in history', String(s.history_versions)),
    item('Quarantined', s.quarantined ? el('a', {href: '/ui/audit#quarantine'}, String(s.quarantined)) : '0'));
  const workers = (s.workers || []).length ?
    el('div', {class: 'table-wrap'}, el('table', {class: 'workers'},
      el('thead', {}, el('tr', {}, ['Worker', 'Address', 'Last poll', 'Leases held'].map(
        (h) => el('th', {scope: 'col'}, h)))),
      el('tbody', {}, s.workers.map((w) => el('tr', {},
        el('td', {'data-label': 'Worker'}, w.name), el('td', {'data-label': 'Address'}, w.address),
        el('td', {'data-label': 'Last poll'}, time_el(w.last_poll, s.now)),
        el('td', {'data-label': 'Leases held', class: 'num'}, String(w.leases_held))))))) :
    el('p', {class: 'muted'}, 'No worker has polled since netkeepd started.');
  replace(box, ready, reasons, grid, el('h2', {}, 'Workers seen'), workers);
}
