// Rendering a diff (the JSON hunks of GET .../diff?format=json) as a unified table or
// side by side, with line numbers and cheap intra-line highlighting: for a run of removed
// lines followed by a run of added ones, the i-th removed line is paired with the i-th
// added one and the part between their common prefix and suffix is marked. Linear in
// the line lengths; no LCS.
import {el} from './dom.js';

// [prefix, suffix] lengths shared by a and b (not overlapping).
function common_ends(a, b) {
  const n = Math.min(a.length, b.length);
  let p = 0;
  while (p < n && a[p] === b[p]) ++p;
  let s = 0;
  while (s < n - p && a[a.length - 1 - s] === b[b.length - 1 - s]) ++s;
  return [p, s];
}

// Text split into plain and <mark> pieces, all text nodes.
function marked(text, start, end) {
  if (start >= end) return [text];
  return [text.slice(0, start), el('mark', {}, text.slice(start, end)), text.slice(end)];
}

const MAX_PAIR_LENGTH = 2000;  // longer lines are shown unmarked: the mark would not help

// Per line of a hunk: the pieces to show (intra-line marks on paired changed lines).
function line_pieces(lines) {
  const pieces = lines.map((l) => [l.text]);
  let i = 0;
  while (i < lines.length) {
    if (lines[i].op !== '-') { ++i; continue; }
    let j = i;
    while (j < lines.length && lines[j].op === '-') ++j;
    let k = j;
    while (k < lines.length && lines[k].op === '+') ++k;
    const pairs = Math.min(j - i, k - j);
    for (let n = 0; n < pairs; ++n) {
      const a = lines[i + n].text;
      const b = lines[j + n].text;
      if (a.length > MAX_PAIR_LENGTH || b.length > MAX_PAIR_LENGTH) continue;
      const [p, s] = common_ends(a, b);
      // Mark only when the lines share something: otherwise the whole line is the change.
      if (p === 0 && s === 0) continue;
      pieces[i + n] = marked(a, p, a.length - s);
      pieces[j + n] = marked(b, p, b.length - s);
    }
    i = k;
  }
  return pieces;
}

const OP_CLASS = {'+': 'add', '-': 'del', ' ': 'ctx'};

function num(n) { return el('td', {class: 'ln'}, n === null || n === undefined ? '' : String(n)); }

function unified_rows(hunk) {
  const pieces = line_pieces(hunk.lines);
  return [
    el('tr', {class: 'hunk'}, el('td', {colspan: 4}, hunk.header)),
    hunk.lines.map((l, i) => el('tr', {class: OP_CLASS[l.op] || 'ctx'},
                                num(l.old), num(l.new), el('td', {class: 'op'}, l.op),
                                el('td', {class: 'text'}, pieces[i]))),
  ];
}

// Side by side: context lines on both sides; a run of removals and additions fills the
// left and right columns of the same rows.
function split_rows(hunk) {
  const pieces = line_pieces(hunk.lines);
  const rows = [el('tr', {class: 'hunk'}, el('td', {colspan: 4}, hunk.header))];
  const side = (l, i, cls) => l ? [num(cls === 'del' ? l.old : l.new),
                                   el('td', {class: `text ${cls}`}, pieces[i])]
                                : [num(null), el('td', {class: 'text empty'})];
  let i = 0;
  const lines = hunk.lines;
  while (i < lines.length) {
    if (lines[i].op === ' ') {
      rows.push(el('tr', {class: 'ctx'}, num(lines[i].old), el('td', {class: 'text'}, pieces[i]),
                   num(lines[i].new), el('td', {class: 'text'}, pieces[i])));
      ++i;
      continue;
    }
    let j = i;
    while (j < lines.length && lines[j].op === '-') ++j;
    let k = j;
    while (k < lines.length && lines[k].op === '+') ++k;
    if (k === i) { ++i; continue; }  // an op we do not know: skip it rather than loop
    for (let n = 0; n < Math.max(j - i, k - j); ++n) {
      const left = i + n < j ? i + n : -1;
      const right = j + n < k ? j + n : -1;
      rows.push(el('tr', {class: 'change'},
                   side(left >= 0 ? lines[left] : null, left, 'del'),
                   side(right >= 0 ? lines[right] : null, right, 'add')));
    }
    i = k;
  }
  return rows;
}

export function diff_table(diff, split) {
  const body = diff.hunks.map((h) => split ? split_rows(h) : unified_rows(h));
  const cols = split ? el('colgroup', {}, el('col', {class: 'ln'}), el('col', {}),
                          el('col', {class: 'ln'}), el('col', {}))
                     : el('colgroup', {}, el('col', {class: 'ln'}), el('col', {class: 'ln'}),
                          el('col', {class: 'op'}), el('col', {}));
  return el('table', {class: `code diff ${split ? 'split' : 'unified'}`}, cols,
            el('tbody', {}, body));
}

// A config's text as numbered lines.
export function code_table(text) {
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return el('table', {class: 'code config'},
            el('colgroup', {}, el('col', {class: 'ln'}), el('col', {})),
            el('tbody', {}, lines.map((line, i) =>
              el('tr', {id: `L${i + 1}`}, num(i + 1), el('td', {class: 'text'}, line.replace(/\r$/, ''))))));
}
