// Search: an RE2 expression (or a literal) over the newest config of every task,
// optionally limited by tag, group and job; results grouped by device with the matching
// lines marked and their context. Bounded by the server (limit, lines per file).
import {get_json} from './api.js';
import {append, device_href, el, notice, replace, time_el} from './dom.js';

function read_state() {
  const p = new URLSearchParams(location.search);
  return {q: p.get('q') || '', literal: p.get('literal') === '1', icase: p.get('icase') === '1',
          tag: p.get('tag') || '', group: p.get('group') || '', job: p.get('job') || ''};
}

export async function render(main) {
  document.title = 'Search · netkeep';
  const s = read_state();
  const input = (name, label, value, attrs) =>
    el('label', {class: 'field'}, el('span', {}, label),
       el('input', {name, type: 'search', value, autocomplete: 'off', spellcheck: 'false', ...attrs}));
  const check = (name, label, on) =>
    el('label', {class: 'check'}, el('input', {type: 'checkbox', name, checked: on}), ' ', label);
  const form = el('form', {class: 'filters search', role: 'search'},
    input('q', 'Expression (RE2)', s.q, {class: 'wide', placeholder: 'e.g. ^snmp-server community',
                                        required: true, maxlength: 1024}),
    input('tag', 'Tag', s.tag), input('group', 'Group', s.group), input('job', 'Job', s.job),
    el('div', {class: 'checks'}, check('literal', 'Literal text', s.literal),
       check('icase', 'Ignore case', s.icase)),
    el('div', {class: 'actions'}, el('button', {type: 'submit'}, 'Search')));
  const out = el('div', {class: 'results', 'aria-live': 'polite'});
  append(main, [el('h1', {}, 'Search'), form, out]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const next = {q: d.get('q'), literal: d.get('literal') ? '1' : '', icase: d.get('icase') ? '1' : '',
                  tag: d.get('tag').trim(), group: d.get('group').trim(), job: d.get('job').trim()};
    const p = new URLSearchParams(Object.entries(next).filter(([, v]) => v !== ''));
    history.replaceState(null, '', `/ui/search?${p}`);
    run(out, next);
  });
  if (s.q) run(out, {...s, literal: s.literal ? '1' : '', icase: s.icase ? '1' : ''});
  else form.elements.q.focus();
}

async function run(out, s) {
  if (!s.q) return;
  replace(out, el('p', {class: 'loading'}, 'Searching…'));
  let r;
  try {
    r = await get_json('/api/v1/search', {q: s.q, literal: s.literal, icase: s.icase, tag: s.tag,
                                          group: s.group, job: s.job, context: 2});
  } catch (e) {
    replace(out, notice(`Search failed: ${e.message}`));
    return;
  }
  const summary = el('p', {class: 'summary-line', 'data-field': 'count'},
    `${r.matches} matching line${r.matches === 1 ? '' : 's'} in ${r.files_matched} of ` +
    `${r.files_searched} configs (${Number(r.elapsed_ms).toFixed(0)} ms)`);
  replace(out, summary,
          r.truncated ? notice('More results than shown: narrow the expression or the filters.', 'info') : null,
          r.results.map((f) => result_block(f, marker(s))));
}

// The browser's idea of the match, to mark it inside a matching line: exact for a
// literal; for an expression, JavaScript's RegExp where it accepts the RE2 syntax (most
// everyday patterns), else none (the whole line stays highlighted, as the server said).
function marker(s) {
  try {
    const source = s.literal ? s.q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : s.q;
    return new RegExp(source, `g${s.icase ? 'i' : ''}`);
  } catch (e) {
    return null;
  }
}

function marked_text(text, re) {
  if (!re) return [text];
  const out = [];
  let at = 0;
  re.lastIndex = 0;
  for (let n = 0, m; n < 50 && (m = re.exec(text)) !== null; ++n) {
    if (m[0] === '') { re.lastIndex += 1; continue; }
    out.push(text.slice(at, m.index), el('mark', {}, m[0]));
    at = m.index + m[0].length;
  }
  out.push(text.slice(at));
  return out;
}

function result_block(f, re) {
  const lines = [];
  let last = null;
  for (const l of f.lines) {
    if (last !== null && l.line > last + 1) lines.push(el('tr', {class: 'gap'}, el('td', {colspan: 2}, '⋯')));
    lines.push(el('tr', {class: l.match ? 'match' : 'ctx'},
                  el('td', {class: 'ln'}, String(l.line)),
                  el('td', {class: 'text'}, l.match ? marked_text(l.text, re) : l.text)));
    last = l.line;
  }
  return el('section', {class: 'result', 'data-device': f.device},
    el('h2', {},
       el('a', {href: device_href(f.device, {job: f.job, at: f.commit})}, f.device), ' ',
       el('code', {}, f.job), ' ',
       el('span', {class: 'muted'}, `${f.matches} match${f.matches === 1 ? '' : 'es'} · `, time_el(f.time))),
    el('div', {class: 'code-wrap'},
       el('table', {class: 'code'}, el('colgroup', {}, el('col', {class: 'ln'}), el('col', {})),
          el('tbody', {}, lines))));
}
