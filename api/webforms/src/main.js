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
  if (root.dataset.csrf) out['X-CSRF-Token'] = root.dataset.csrf;
  return out;
}

async function post(formData) {
  const response = await fetch(root.dataset.submitUrl, {
    method: 'POST',
    body: formData,
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
  if (level) {
    level.textContent = body.riskLevelLabel || '';
    level.hidden = !body.riskLevelLabel;
  }
  panel.dataset.instanceId = body.instanceId || '';
  show(panel, body.message);
  root.hidden = true;
  panel.focus();
  window.scrollTo(0, 0);
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
      result = { ok: false, status: 0, body: { message: failure?.dataset.offline || String(error) } };
    }
    if (!result.ok) {
      show(failure, result.body.message || result.body.detail || `HTTP ${result.status}`);
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

if (root) {
  mount().catch((error) => {
    setState('failed');
    show(failure, failure?.dataset.loadFailed || String(error));
  });
}
