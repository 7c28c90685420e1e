// fieldsurvey's entry for ODK Web Forms: mounts the component on #webform and posts what it
// submits to the server's own submission route, which stores it through api/ingest.py like
// a submission from ODK Collect. Everything it needs comes from the page (data-* attributes
// and server-rendered, translated text), so the page needs no inline script.
//
// Packaging note: @getodk/web-forms 0.22.0's README says `WebFormsPlugin`; the module
// exports `webFormsPlugin`.
import { createApp, h, shallowRef } from 'vue';
import { OdkWebForm, POST_SUBMIT__NEW_INSTANCE, webFormsPlugin } from '@getodk/web-forms';

const root = document.getElementById('webform');
const panel = document.getElementById('webform-done');
const failure = document.getElementById('webform-failure');

function show(element, text) {
  if (!element) return;
  const slot = element.querySelector('[data-slot=message]');
  if (slot && text !== undefined) slot.textContent = text;
  element.hidden = false;
}

function setState(state) {
  document.documentElement.dataset.webform = state;
}

async function loadText(url) {
  const response = await fetch(url, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.text();
}

function headers() {
  const out = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' };
  if (root.dataset.csrf) out['X-CSRFToken'] = root.dataset.csrf; // Litestar's CSRF header
  return out;
}

// Web Forms 0.22.0 hands over its files (photos, and images for a signature question, which
// it shows as an image upload) as File objects without a type; ODK Collect sends each part
// with its type. Give such a file the type its name says, so it is stored and served as an
// image, not application/octet-stream.
const TYPES = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif',
  webp: 'image/webp', bmp: 'image/bmp', svg: 'image/svg+xml', heic: 'image/heic' };

function typed(formData) {
  const out = new FormData();
  for (const [name, value] of formData.entries()) {
    const type = value instanceof File && !value.type
      && TYPES[(value.name.split('.').pop() || '').toLowerCase()];
    if (type) out.append(name, new File([value], value.name, { type }), value.name);
    else if (value instanceof File) out.append(name, value, value.name);
    else out.append(name, value);
  }
  return out;
}

async function post(formData) {
  const response = await fetch(root.dataset.submitUrl, {
    method: 'POST',
    body: typed(formData),
    headers: headers(),
    credentials: 'same-origin',
  });
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  return { ok: response.ok, status: response.status, body };
}

function showResult(body) {
  const note = panel.querySelector('[data-slot=referral]');
  if (note) {
    note.textContent = body.referralNote || '';
    note.hidden = !body.referralNote;
  }
  const level = panel.querySelector('[data-slot=level]');
  const levelLine = panel.querySelector('[data-slot=level-line]');
  if (level && levelLine) {
    level.textContent = body.riskLevelLabel || '';
    levelLine.hidden = !body.riskLevelLabel;
  }
  panel.dataset.instanceId = body.instanceId || '';
  show(panel, body.message);
  root.hidden = true;
  panel.focus();
  window.scrollTo(0, 0);
}

// --- Web Forms' own texts in the page's language ------------------------------------------
// Web Forms 0.22.0 shows its buttons and messages in English only. The page gives their
// translations (data-texts, from the server's catalogues); text nodes that read exactly one
// of them are replaced, and again whenever Web Forms rewrites them.
const texts = JSON.parse(root?.dataset.texts || '{}');
const table = texts.texts || {};
const counted = /^(\d+) questions with errors\.$/;

function translateText(node) {
  const raw = node.nodeValue;
  const text = raw.trim();
  if (!text) return;
  let out = table[text];
  const many = counted.exec(text);
  if (!out && many && table['{n} questions with errors.']) {
    out = table['{n} questions with errors.'].replace('{n}', many[1]);
  }
  if (out && out !== text) node.nodeValue = raw.replace(text, out);
}

function translateTree(element) {
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) translateText(node);
}

function translateWebForms() {
  if (!Object.keys(table).length) return;
  const watch = (target) => new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === 'characterData') translateText(record.target);
      record.addedNodes.forEach((node) => {
        if (node.nodeType === Node.TEXT_NODE) translateText(node);
        else if (node.nodeType === Node.ELEMENT_NODE) translateTree(node);
      });
    }
  }).observe(target, { subtree: true, childList: true, characterData: true });
  watch(document.body); // the form, and its menus and dialogs (appended to <body>)
}

async function mount() {
  setState('loading');
  const formXml = await loadText(root.dataset.formUrl);
  const attachmentBase = root.dataset.attachmentUrl;
  const fetchFormAttachment = (url) => {
    const name = decodeURIComponent(String(url).split('/').pop());
    return fetch(attachmentBase + encodeURIComponent(name), { credentials: 'same-origin' });
  };
  let editInstance = null;
  if (root.dataset.instanceUrl) {
    const names = JSON.parse(root.dataset.instanceAttachments || '[]');
    const base = root.dataset.instanceAttachmentUrl;
    editInstance = {
      resolveInstance: () => loadText(root.dataset.instanceUrl),
      attachmentFileNames: names,
      resolveAttachment: (name) =>
        fetch(base + encodeURIComponent(name), { credentials: 'same-origin' }),
    };
  }
  const reset = shallowRef(null);
  const onSubmit = async (payload, callback) => {
    if (failure) failure.hidden = true;
    if (payload.status !== 'ready') return;
    setState('sending');
    const [data] = payload.data;
    let result;
    try {
      result = await post(data);
    } catch (error) {
      result = { ok: false, status: 0, body: {} };
    }
    if (!result.ok) {
      show(failure, result.body.message || failure?.dataset.generic || `HTTP ${result.status}`);
      failure?.focus();
      setState('refused');
      return;
    }
    reset.value = callback;
    showResult(result.body);
    setState('submitted');
  };
  const app = createApp({
    render: () =>
      h(OdkWebForm, {
        formXml,
        fetchFormAttachment,
        missingResourceBehavior: 'BLANK',
        editInstance,
        onSubmit,
      }),
  });
  app.use(webFormsPlugin);
  if (texts.calendar) {
    // the date picker's month and day names (PrimeVue's locale)
    const config = app.config.globalProperties.$primevue?.config;
    if (config) config.locale = { ...config.locale, ...texts.calendar };
  }
  translateWebForms();
  app.mount(root);
  const again = document.getElementById('webform-again');
  if (again) {
    again.addEventListener('click', () => {
      if (reset.value) reset.value({ next: POST_SUBMIT__NEW_INSTANCE });
      reset.value = null;
      panel.hidden = true;
      root.hidden = false;
      setState('ready');
      window.scrollTo(0, 0);
    });
  }
  // The component marks itself ready; tests and people wait for the questions to show.
  const ready = () => document.querySelector('.form-initialization-status.ready, .form-initialization-status.error');
  const watch = new MutationObserver(() => {
    const status = ready();
    if (status) {
      setState(status.classList.contains('ready') ? 'ready' : 'failed');
      watch.disconnect();
    }
  });
  watch.observe(root, { subtree: true, childList: true, attributes: true });
}

// --- one language for the page and the form -----------------------------------------------
// The server opens the form in the page's language (it marks that translation default). When
// the page's switcher is used, the choice is saved, the page's own text is replaced by the
// same page in the new language, and the form's language menu is set to match, without
// losing the answers. When the form's own menu is used, the page follows the same way.

const codeOf = (label) => {
  const match = /\(([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)?\)\s*$/.exec(label || '');
  return match ? match[1].toLowerCase() : null;
};

function visibleMenu() {
  return [...document.querySelectorAll('.language-changer')].find((el) => el.offsetParent !== null);
}

function formLanguage() {
  // On small screens the visible menu shows only an icon; both menus hold the same language.
  for (const menu of document.querySelectorAll('.language-changer')) {
    const code = codeOf(menu.textContent.trim());
    if (code) return code;
  }
  return null;
}

// Replace the page's own parts (header, project navigation, our panels) with the same parts of
// `html`, the page rendered in another language. The form itself is left alone.
function swapChrome(html) {
  const fresh = new DOMParser().parseFromString(html, 'text/html');
  const swap = (selector) => {
    const old = document.querySelector(selector);
    const next = fresh.querySelector(selector);
    if (old && next) {
      if (old.hidden !== undefined) next.hidden = old.hidden;
      old.replaceWith(document.adoptNode(next));
    }
  };
  ['header.top', 'nav.project-nav', 'a.skip'].forEach(swap);
  document.querySelectorAll('[data-swap]').forEach((el) => {
    const next = fresh.querySelector(`[data-swap="${el.dataset.swap}"]`);
    if (!next) return;
    if (el.id === 'webform-done' || el.id === 'webform-failure') {
      // these show what the server answered: keep it, translate only their fixed text
      for (const selector of [':scope > h2', '#webform-again', '.fill-actions a']) {
        const [mine, theirs] = [el.querySelector(selector), next.querySelector(selector)];
        if (mine && theirs) mine.textContent = theirs.textContent;
      }
      Object.assign(el.dataset, next.dataset);
      return;
    }
    next.hidden = el.hidden;
    el.replaceWith(document.adoptNode(next));
  });
  const fresher = fresh.getElementById('webform');
  if (fresher && root) root.dataset.csrf = fresher.dataset.csrf;
  document.title = fresh.title;
  document.documentElement.lang = fresh.documentElement.lang;
}

// true while one of the two is being made to follow the other (the observer then waits)
let switching = false;

async function savePageLanguage(code) {
  const form = document.getElementById('language');
  if (!form) return false;
  const data = new FormData(form);
  data.set('locale', code);
  const response = await fetch(form.action, { method: 'POST', body: data, credentials: 'same-origin' });
  if (!response.ok) return false;
  swapChrome(await response.text());
  return true;
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function setFormLanguage(code) {
  // As a person would: open the form's language menu and pick the language (again if the
  // menu closed before the choice took, e.g. while the form was still busy).
  for (let i = 0; i < 200 && formLanguage() !== code; i += 1) {
    const option = [...document.querySelectorAll('.p-select-overlay [role=option]')]
      .find((el) => codeOf(el.innerText.trim()) === code);
    // PrimeVue's Select picks an option on mousedown
    if (option) option.dispatchEvent(new MouseEvent('mousedown', { bubbles: true, cancelable: true }));
    else if (i % 10 === 0) visibleMenu()?.click();
    await pause(100);
  }
}

async function follow(action) {
  switching = true;
  setState('switching');
  try {
    await action();
  } finally {
    switching = false;
    setState(root.hidden ? 'submitted' : 'ready');
  }
}

document.addEventListener('submit', (event) => {
  if (event.target.id !== 'language' || !root) return;
  event.preventDefault();
  const code = event.submitter?.value;
  if (!code || code === document.documentElement.lang || switching) return;
  follow(async () => {
    if (await savePageLanguage(code)) await setFormLanguage(code);
  });
});

function followFormLanguage() {
  new MutationObserver(() => {
    if (switching) return;
    const code = formLanguage();
    if (!code || code === document.documentElement.lang) return;
    if (!['en', 'ru', 'tg'].includes(code)) return;
    follow(() => savePageLanguage(code));
  }).observe(root, { subtree: true, childList: true, characterData: true });
}

if (root) {
  followFormLanguage();
  mount().catch((error) => {
    setState('failed');
    show(failure, failure?.dataset.loadFailed || String(error));
  });
}
