// Reports (§7): session, student performance, classroom engagement, quiz
// effectiveness, each with its charts and a CSV download.
import { h, set, page, field, errorBox, showError, bar, table, when, day, pct, ms, saveBlob } from './ui.js';
import * as api from './api.js';

const PATHS = {
  session: (id) => `/reports/sessions/${id}`,
  student: (id) => `/reports/students/${id}/performance`,
  classroom: (id) => `/reports/classrooms/${id}/engagement`,
  quiz: (id) => `/reports/quizzes/${id}/effectiveness`,
};

function csvButton(kind, id) {
  const err = errorBox();
  const btn = h('button', { testid: 'csv-download', type: 'button', class: 'secondary', onclick: async () => {
    err.textContent = '';
    try { saveBlob(await api.csv(PATHS[kind](encodeURIComponent(id))), `${kind}-${id}.csv`); } catch (x) { showError(err, x); }
  } }, 'Download CSV');
  return h('span', {}, btn, err);
}

function asOf(r) { return h('p', { class: 'muted' }, `Data as of ${when(r.as_of)}`); }

// questionStats renders item statistics with a distribution chart each.
function questionStats(questions, quiz) {
  const optText = {};
  const qById = {};
  for (const q of (quiz && quiz.questions) || []) { qById[q.id] = q; for (const o of q.options || []) optText[o.id] = o.text; }
  return questions.map((q, i) => {
    const total = Object.values(q.distribution || {}).reduce((a, b) => a + b, 0);
    const opts = (qById[q.question_id] && qById[q.question_id].options) || Object.keys(q.distribution || {}).map((id) => ({ id }));
    return h('section', { class: 'panel', 'aria-label': `Question ${i + 1}` },
      h('h3', {}, `${i + 1}. ${q.text}`),
      h('p', {}, `Attempts ${q.attempts} · correct ${pct(q.p_correct)} · discrimination ${q.discrimination === null || q.discrimination === undefined ? '–' : q.discrimination.toFixed(2)} · avg response ${ms(q.avg_response_ms)}`,
        q.top_wrong_option_id ? ` · most picked wrong option: ${optText[q.top_wrong_option_id] || q.top_wrong_option_id}` : ''),
      h('div', { class: 'bars' }, opts.map((o) => {
        const n = (q.distribution || {})[o.id] || 0;
        return h('div', { class: 'bar' }, h('span', { class: 'label' }, o.text || optText[o.id] || o.id), bar(total ? n / total : 0), h('span', { class: 'num' }, String(n)));
      })));
  });
}

async function sessionReport(id) {
  const r = await api.get(PATHS.session(encodeURIComponent(id)));
  let quiz = null;
  try { if (r.session && r.session.quiz_id) quiz = await api.get(`/quizzes/${encodeURIComponent(r.session.quiz_id)}`); } catch { /* a student or an archived quiz: ids only */ }
  const s = r.session || {};
  page(`Session report${quiz ? `: ${quiz.title}` : ''}`,
    h('p', {}, `State ${s.state || ''} · started ${when(s.started_at)} · ended ${when(s.ended_at)} · ${r.participants} participants`),
    asOf(r), csvButton('session', id),
    h('h2', {}, 'Questions'), questionStats(r.questions || [], quiz),
    h('h2', {}, 'Leaderboard'),
    table(['Rank', 'Name', { label: 'Score', num: true }], (r.leaderboard || []).map((x) => [String(x.rank), x.name, String(x.score)])));
}

async function studentReport(id) {
  const r = await api.get(PATHS.student(encodeURIComponent(id)));
  const maxDay = Math.max(1, ...(r.by_day || []).map((d) => d.answered));
  page(`Performance of ${(r.student && r.student.name) || 'student'}`,
    asOf(r), csvButton('student', id),
    h('p', { class: 'bigstats' }, `Answered ${r.answered}`, ` · correct ${r.correct}`, ` · accuracy ${pct(r.accuracy)}`, ` · avg response ${ms(r.avg_response_ms)}`, ` · points ${r.points}`),
    h('h2', {}, 'By day'),
    h('div', { class: 'bars' }, (r.by_day || []).map((d) => h('div', { class: 'bar' },
      h('span', { class: 'label' }, day(d.day)), bar(d.answered / maxDay), h('span', { class: 'num' }, `${d.correct}/${d.answered}`)))),
    h('h2', {}, 'Sessions'),
    table(['Quiz', 'Started', { label: 'Answered', num: true }, { label: 'Correct', num: true }, { label: 'Score', num: true }, { label: 'Rank', num: true }],
      (r.sessions || []).map((x) => [x.quiz_title, when(x.started_at), String(x.answered), String(x.correct), String(x.score), String(x.rank)])));
}

async function classroomReport(id) {
  const r = await api.get(PATHS.classroom(encodeURIComponent(id)));
  const staff = api.auth.user().role !== 'student';
  page(`Engagement of ${(r.classroom && r.classroom.name) || 'classroom'}`,
    asOf(r), csvButton('classroom', id),
    h('p', {}, `Enrolled ${r.enrolled} · participation ${pct(r.participation_rate)} · completion ${pct(r.completion_rate)}`),
    h('h2', {}, 'Participation per session'),
    h('div', { class: 'bars' }, (r.sessions || []).map((x) => h('div', { class: 'bar' },
      h('span', { class: 'label' }, `${x.quiz_title} (${when(x.started_at)})`), bar(x.participation_rate), h('span', { class: 'num' }, pct(x.participation_rate))))),
    table(['Quiz', 'Started', { label: 'Participants', num: true }, { label: 'Participation', num: true }, { label: 'Completion', num: true }, { label: 'Avg response', num: true }, 'Report'],
      (r.sessions || []).map((x) => [x.quiz_title, when(x.started_at), String(x.participants), pct(x.participation_rate), pct(x.completion_rate), ms(x.avg_response_ms),
        staff ? h('a', { href: `#/report/session/${x.session_id}` }, 'Open') : ''])));
}

async function quizReport(id) {
  const r = await api.get(PATHS.quiz(encodeURIComponent(id)));
  let quiz = null;
  try { quiz = await api.get(`/quizzes/${encodeURIComponent(id)}`); } catch { /* archived */ }
  page(`Effectiveness of ${(r.quiz && r.quiz.title) || 'quiz'}`,
    asOf(r), csvButton('quiz', id), h('p', {}, `${r.sessions} sessions`),
    h('h2', {}, 'Item statistics'), questionStats(r.questions || [], quiz));
}

export async function one(kind, id) {
  const f = { session: sessionReport, student: studentReport, classroom: classroomReport, quiz: quizReport }[kind];
  if (!f) throw new Error('No such report.');
  await f(id);
}

export async function mine(user) { await studentReport(user.id); }

// index lets a teacher or admin pick a report.
export async function index() {
  const [classrooms, quizzes] = await Promise.all([api.all('/classrooms'), api.all('/quizzes')]);
  const cls = h('select', {}, classrooms.map((c) => h('option', { value: c.id }, c.name)));
  const qz = h('select', {}, quizzes.map((q) => h('option', { value: q.id }, q.title)));
  const stuCls = h('select', {}, classrooms.map((c) => h('option', { value: c.id }, c.name)));
  const stu = h('select', {});
  const err = errorBox();
  const loadRoster = async () => {
    if (!stuCls.value) return;
    try {
      const roster = await api.all(`/classrooms/${encodeURIComponent(stuCls.value)}/students`);
      set(stu, roster.map((s) => h('option', { value: s.id }, `${s.name} (${s.email})`)));
    } catch (x) { showError(err, x); }
  };
  stuCls.addEventListener('change', loadRoster);
  const open = (kind, sel) => h('button', { type: 'button', onclick: () => { if (sel.value) location.hash = `#/report/${kind}/${sel.value}`; } }, 'Open');
  page('Reports',
    h('h2', {}, 'Classroom engagement'), h('div', { class: 'row' }, field('Classroom', cls), open('classroom', cls)),
    h('h2', {}, 'Quiz effectiveness'), h('div', { class: 'row' }, field('Quiz', qz), open('quiz', qz)),
    h('h2', {}, 'Student performance'), h('div', { class: 'row' }, field('Classroom of the student', stuCls), field('Student', stu), open('student', stu)),
    err);
  loadRoster();
}
