// Quizzes: the list and the editor of all four kinds (single, multi,
// true_false, poll), reordering, time limit and points, archive.
import { h, set, page, field, errorBox, showError, when } from './ui.js';
import * as api from './api.js';

export async function listView() {
  const list = await api.all('/quizzes');
  page('Quizzes',
    h('p', {}, h('a', { class: 'button', href: '#/quizzes/new' }, 'New quiz')),
    list.length ? h('ul', {}, list.map((q) => h('li', {},
      h('a', { href: `#/quizzes/${q.id}` }, q.title), ` · ${q.question_count} questions · version ${q.version} · ${when(q.updated_at)} · `,
      h('a', { href: `#/report/quiz/${q.id}` }, 'Effectiveness')))) : h('p', {}, 'No quiz yet.'));
}

const KINDS = [['single', 'Single choice'], ['multi', 'Multiple choice'], ['true_false', 'True / false'], ['poll', 'Poll (no right answer)']];

function blankQuestion() {
  return { text: '', kind: 'single', options: [{ text: '' }, { text: '' }], correct: [0], time_limit_s: 20, points: 1000 };
}

// fitKind makes a question obey its kind's rules after a kind change.
function fitKind(q) {
  if (q.kind === 'true_false') {
    q.options = [{ text: 'True' }, { text: 'False' }];
    q.correct = [q.correct.length && q.correct[0] === 1 ? 1 : 0];
  } else if (q.kind === 'poll') {
    q.correct = []; q.points = 0;
  } else {
    if (q.points === 0) q.points = 1000;
    q.correct = q.correct.filter((i) => i < q.options.length);
    if (q.kind === 'single') q.correct = q.correct.slice(0, 1);
    if (!q.correct.length) q.correct = [0];
  }
}

export async function editView(id) {
  const isNew = id === 'new';
  const model = isNew ? { title: '', description: '', questions: [blankQuestion()] } : await api.get(`/quizzes/${encodeURIComponent(id)}`);
  const quiz = {
    title: model.title, description: model.description || '',
    questions: model.questions.map((q) => ({ text: q.text, kind: q.kind, options: q.options.map((o) => ({ text: o.text })), correct: [...q.correct], time_limit_s: q.time_limit_s, points: q.points })),
  };
  const err = errorBox();
  const msg = h('p', { class: 'notice', role: 'status' });
  const list = h('div', {});
  const title = h('input', { name: 'title', required: true, maxlength: 200, value: quiz.title, oninput: (e) => { quiz.title = e.target.value; } });
  const desc = h('input', { name: 'description', value: quiz.description, oninput: (e) => { quiz.description = e.target.value; } });

  function render() {
    set(list, quiz.questions.map((q, i) => questionEditor(q, i)));
  }
  function move(i, d) {
    const j = i + d;
    if (j < 0 || j >= quiz.questions.length) return;
    [quiz.questions[i], quiz.questions[j]] = [quiz.questions[j], quiz.questions[i]];
    render();
    list.querySelectorAll('.qedit')[j].querySelector('textarea').focus();
  }
  function questionEditor(q, i) {
    const n = i + 1;
    const text = h('textarea', { name: `q${i}-text`, required: true, maxlength: 1000, rows: 2, oninput: (e) => { q.text = e.target.value; } });
    text.value = q.text;
    const kind = h('select', { name: `q${i}-kind`, onchange: (e) => { q.kind = e.target.value; fitKind(q); render(); } },
      KINDS.map(([v, label]) => h('option', { value: v, selected: v === q.kind }, label)));
    const time = h('input', { name: `q${i}-time`, type: 'number', min: 5, max: 300, value: q.time_limit_s, oninput: (e) => { q.time_limit_s = Number(e.target.value); } });
    const points = h('input', { name: `q${i}-points`, type: 'number', min: 0, max: 2000, value: q.points, disabled: q.kind === 'poll', oninput: (e) => { q.points = Number(e.target.value); } });
    const fixed = q.kind === 'true_false';
    const opts = q.options.map((o, k) => {
      const label = `Option ${k + 1} of question ${n}`;
      const input = h('input', { name: `q${i}-o${k}`, type: 'text', maxlength: 200, required: true, value: o.text, disabled: fixed, 'aria-label': label, oninput: (e) => { o.text = e.target.value; } });
      let mark = '';
      if (q.kind !== 'poll') {
        const multi = q.kind === 'multi';
        mark = h('label', { class: 'inline' }, h('input', {
          type: multi ? 'checkbox' : 'radio', name: `correct-${i}`, value: String(k), checked: q.correct.includes(k),
          onchange: (e) => {
            if (multi) q.correct = e.target.checked ? [...new Set([...q.correct, k])].sort() : q.correct.filter((x) => x !== k);
            else q.correct = [k];
          },
        }), `Correct`, h('span', { class: 'sr-only' }, ` (option ${k + 1})`));
      }
      const remove = fixed || q.options.length <= 2 ? '' : h('button', { type: 'button', class: 'secondary', 'aria-label': `Remove option ${k + 1} of question ${n}`, onclick: () => {
        q.options.splice(k, 1);
        q.correct = q.correct.filter((x) => x !== k).map((x) => (x > k ? x - 1 : x));
        fitKind(q); render();
      } }, 'Remove');
      return h('div', { class: 'opt' }, input, mark, remove);
    });
    return h('fieldset', { class: 'qedit' },
      h('legend', {}, `Question ${n}`),
      field('Question text', text, 'grow'),
      h('div', { class: 'row' }, field('Kind', kind), field('Time limit (seconds)', time), field('Points', points)),
      h('div', { class: 'opts' }, opts),
      h('div', { class: 'row' },
        fixed || q.options.length >= 6 ? '' : h('button', { type: 'button', class: 'secondary', onclick: () => { q.options.push({ text: '' }); render(); } }, 'Add option'),
        h('button', { type: 'button', class: 'secondary', disabled: i === 0, 'aria-label': `Move up question ${n}`, onclick: () => move(i, -1) }, 'Move up'),
        h('button', { type: 'button', class: 'secondary', disabled: i === quiz.questions.length - 1, 'aria-label': `Move down question ${n}`, onclick: () => move(i, 1) }, 'Move down'),
        quiz.questions.length > 1 ? h('button', { type: 'button', class: 'danger', 'aria-label': `Delete question ${n}`, onclick: () => { quiz.questions.splice(i, 1); render(); } }, 'Delete question') : ''));
  }

  const save = async (e) => {
    e.preventDefault();
    err.textContent = ''; msg.textContent = '';
    const body = { title: quiz.title, questions: quiz.questions };
    if (quiz.description) body.description = quiz.description;
    try {
      const saved = isNew ? await api.post('/quizzes', body) : await api.put(`/quizzes/${encodeURIComponent(id)}`, body);
      if (isNew) { location.hash = `#/quizzes/${saved.id}`; return; }
      msg.textContent = `Saved: version ${saved.version}.`;
    } catch (x) { showError(err, x); }
  };
  const archive = isNew ? '' : h('button', { type: 'button', class: 'danger', onclick: async () => {
    if (!window.confirm('Archive this quiz? Its reports stay.')) return;
    try { await api.del(`/quizzes/${encodeURIComponent(id)}`); location.hash = '#/quizzes'; } catch (x) { showError(err, x); }
  } }, 'Archive quiz');
  page(isNew ? 'New quiz' : `Edit ${quiz.title}`,
    h('form', { name: 'quiz', onsubmit: save },
      h('div', { class: 'row' }, field('Title', title, 'grow'), field('Description', desc, 'grow')),
      list,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'secondary', onclick: () => { if (quiz.questions.length < 100) { quiz.questions.push(blankQuestion()); render(); } } }, 'Add question'),
        h('button', { type: 'submit' }, 'Save quiz'), archive),
      msg, err));
  render();
}
