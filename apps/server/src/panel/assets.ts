// The panel's stylesheet and script, served by the node itself at /static/ (no CDN, nothing
// fetched from elsewhere). They are modules rather than files so that the bundle carries them.

export const PANEL_CSS = `
:root { --fg: #1d2430; --muted: #5f6b7a; --line: #d8dee6; --bg: #f6f8fa; --card: #fff;
  --accent: #1f5fbf; --bad: #b3261e; --warn: #9a6700; --ok: #1a7f37; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
header { background: #1d2430; color: #fff; padding: .5rem 1rem; display: flex; flex-wrap: wrap;
  align-items: center; gap: .25rem 1rem; }
header .brand { font-weight: 600; margin-right: .5rem; }
header nav { display: flex; flex-wrap: wrap; gap: .25rem .9rem; flex: 1; }
header a { color: #dbe6f5; text-decoration: none; }
header a[aria-current="page"] { color: #fff; border-bottom: 2px solid #fff; }
header form { margin: 0; }
header button { background: none; border: 1px solid #8c99aa; color: #fff; }
main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: .25rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
a { color: var(--accent); }
/* A NURL or a storage index has no break in it: it wraps anywhere rather than widen the page. */
main p, main li { overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: .75rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; }
.card h2 { margin: 0 0 .4rem; font-size: .95rem; color: var(--muted); font-weight: 600; }
.card .big { font-size: 1.5rem; font-weight: 600; }
.card ul { margin: .25rem 0 0; padding-left: 1.1rem; }
.table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.wrap { white-space: normal; overflow-wrap: anywhere; min-width: 12rem; }
th a { color: inherit; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:last-child td { border-bottom: none; }
.status { display: inline-block; padding: 0 .45rem; border-radius: 9px; font-size: .85rem; background: #e8edf3; }
.status-frozen, .status-pending { background: #fff1c2; color: var(--warn); }
.status-disabled, .status-deleted { background: #fde2df; color: var(--bad); }
.status-normal, .status-open { background: #dcf3e2; color: var(--ok); }
.bar { display: inline-block; width: 6rem; height: .55rem; background: #e8edf3; border-radius: 4px;
  overflow: hidden; vertical-align: middle; margin-right: .35rem; }
.bar > span { display: block; height: 100%; background: var(--accent); }
.bar.warn > span { background: var(--warn); } .bar.over > span { background: var(--bad); }
form.inline { display: inline; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin-bottom: .75rem; }
.filters label, .stack label { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); }
input, select, button { font: inherit; padding: .35rem .5rem; border: 1px solid #aab4c0; border-radius: 4px; max-width: 100%; }
input[type="checkbox"] { padding: 0; margin: 0; }
th.select, td.select { width: 1.5rem; padding-right: 0; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
button:disabled { opacity: .45; cursor: not-allowed; }
button.danger { background: var(--bad); border-color: var(--bad); }
button.quiet { background: #fff; color: var(--fg); border-color: #aab4c0; }
.actions { display: flex; flex-wrap: wrap; gap: .75rem; }
.actions form { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .75rem;
  display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
label.stack { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); }
textarea { font: .85rem ui-monospace, SFMono-Regular, Menlo, monospace; width: 100%; max-width: 100%;
  padding: .35rem .5rem; border: 1px solid #aab4c0; border-radius: 4px; }
/* An action that asks first, and the add and import forms: closed until opened. */
details { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .45rem .75rem;
  max-width: 100%; min-width: 0; }
.actions > details[open] { flex: 1 1 22rem; }
form.stacked input:not([type]), form.stacked input[type="file"] { width: 100%; }
details > summary { cursor: pointer; color: var(--accent); }
details[open] > summary { margin-bottom: .4rem; }
details p { margin: .25rem 0 .5rem; max-width: 40rem; }
.actions details form { border: none; padding: 0; }
form.stacked, .actions form.stacked { display: flex; flex-direction: column; flex-wrap: nowrap;
  align-items: stretch; gap: .5rem; }
form.stacked button { align-self: flex-start; }
.add-forms { margin-bottom: .75rem; }
.note { background: #eef3fb; border: 1px solid #c5d5ee; border-radius: 6px; padding: .5rem .75rem; }
.flash { padding: .5rem .75rem; border-radius: 6px; margin-bottom: 1rem; background: #dcf3e2; border: 1px solid #a6dcb4; }
.flash.error { background: #fde2df; border-color: #f1aca5; }
.pager { display: flex; gap: 1rem; align-items: center; margin: .6rem 0; flex-wrap: wrap; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85em; overflow-wrap: anywhere; }
.chart { width: 100%; height: auto; background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
.chart .axis { stroke: #aab4c0; stroke-width: 1; }
.chart .line { fill: none; stroke: var(--accent); stroke-width: 2; }
.chart circle { fill: var(--accent); }
.chart text { font-size: 11px; fill: var(--muted); }
.chart .quota { stroke-width: 1.5; stroke-dasharray: 6 4; }
.chart .bar-in { fill: var(--accent); } .chart .bar-out { fill: var(--ok); }
.chart .quota-hard { stroke: var(--bad); } .chart .quota-soft { stroke: var(--warn); }
.ranges { display: flex; gap: .75rem; margin: .25rem 0 .5rem; }
.ranges a[aria-current="page"] { font-weight: 600; text-decoration: none; color: var(--fg); }
ul.events { list-style: none; padding: 0; margin: 0; }
ul.events li { padding: .3rem 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
.login { max-width: 24rem; margin: 3rem auto; }
.login form { display: flex; flex-direction: column; gap: .75rem; background: var(--card);
  border: 1px solid var(--line); border-radius: 6px; padding: 1rem; }
.health { border-radius: 6px; padding: .6rem .9rem; margin-bottom: .9rem; border: 1px solid; }
.health-ok { background: #dcf3e2; border-color: #a6dcb4; }
.health-warning { background: #fff6d6; border-color: #e8d27a; }
.health-error { background: #fde2df; border-color: #f1aca5; }
.health .headline { font-weight: 600; }
.alerts { margin: .35rem 0 0; padding-left: 1.2rem; }
.alert-error { color: var(--bad); }
.identity { margin-bottom: .9rem; }
.identity pre { background: var(--bg); border: 1px solid var(--line); padding: .5rem; overflow-x: auto;
  white-space: pre; font-size: .8rem; }
.copyable { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .35rem 0; }
@media (max-width: 40rem) {
  main { padding: .6rem; }
  .hide-narrow { display: none; }
  /* The accounts table fits a phone: fewer columns, and the quota and last-seen cells wrap. */
  table { font-size: .9rem; }
  th, td { padding: .35rem .4rem; }
  th, td.fit { white-space: normal; }
  .bar { width: 3rem; }
  /* The chart is drawn 720 units wide and shown about 350 px wide: labels twice the size. */
  .chart text { font-size: 24px; }
}
`;

export const PANEL_JS = `
// The delete form's button stays disabled until the nickname is typed exactly (the server
// checks it again).
for (const form of document.querySelectorAll('form[data-action="delete"]')) {
  const input = form.querySelector('input[name="confirm"]');
  const button = form.querySelector('button[type="submit"]');
  const sync = () => { button.disabled = input.value !== form.dataset.nickname; };
  input.addEventListener('input', sync);
  sync();
}
// Copy buttons put the text of the element they name on the clipboard, and say so.
for (const button of document.querySelectorAll('button[data-copy]')) {
  button.addEventListener('click', async () => {
    const text = document.getElementById(button.dataset.copy).textContent.trim();
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    } catch {
      // No clipboard (an insecure origin, a refused permission): select it for Ctrl-C instead.
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(button.dataset.copy));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = 'Selected: press Ctrl-C';
    }
  });
}
// "Select all" ticks every account of the page for the bulk form it names.
for (const all of document.querySelectorAll('input[data-select-all]')) {
  all.addEventListener('change', () => {
    for (const box of document.querySelectorAll('input[type="checkbox"][form="' + all.dataset.selectAll + '"]')) {
      box.checked = all.checked;
    }
  });
}
// A file chosen for an import list is read into the list's text area (the form sends text).
for (const input of document.querySelectorAll('input[type="file"][data-fills]')) {
  input.addEventListener('change', async () => {
    const file = input.files[0];
    if (file) document.getElementById(input.dataset.fills).value = await file.text();
  });
}
// Filters apply as soon as a select changes, and the page comes back where it was scrolled to.
const SCROLL_KEY = 'ostrom-filter-scroll';
for (const form of document.querySelectorAll('form[data-autosubmit]')) {
  form.addEventListener('submit', () => {
    sessionStorage.setItem(SCROLL_KEY, JSON.stringify({ path: location.pathname, y: scrollY }));
  });
}
for (const select of document.querySelectorAll('form[data-autosubmit] select')) {
  select.addEventListener('change', () => select.form.requestSubmit());
}
try {
  const kept = JSON.parse(sessionStorage.getItem(SCROLL_KEY) ?? 'null');
  sessionStorage.removeItem(SCROLL_KEY);
  if (kept && kept.path === location.pathname) scrollTo(0, kept.y);
} catch {
  // Nothing kept, or not ours: the page starts at the top.
}
`;
