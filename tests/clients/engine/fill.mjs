// A long-lived, headless driver of ODK Web Forms' XForms engine (@getodk/xforms-engine).
//
// Protocol: one JSON request per line on stdin, one JSON response per line on stdout,
// answered in order. Nothing else is written to stdout (console output goes to stderr).
//
//   {"id": 1, "op": "ping"}
//     -> {"id": 1, "ok": true, "engine": "0.22.0"}
//   {"id": 2, "op": "load", "xform": "<h:html ...>", "lang": "Russian (ru)", "labels": 5}
//     -> {"id": 2, "ok": true, "status": "success", "languages": ["English (en)", ...],
//         "defaultLanguage": "English (en)", "activeLanguage": "Russian (ru)",
//         "labels": [{"ref": "/data/consent", "nodeType": "select", "label": "...",
//                     "options": [{"value": "yes", "label": "..."}]}, ...]}
//   {"id": 3, "op": "fill", "xform": "...", "lang": null,
//    "answers": {"/data/consent": "yes", "age": "17", "/data/kinds": ["a", "b"]},
//    "repeats": {"/data/kids": 2}, "read": ["/data/preview_risk_level", "nkinds"]}
//     -> {"id": 3, "ok": true, "instanceXML": "<data ...>", "values": {...},
//         "applied": [refs], "skipped": [refs], "errors": [{"ref", "kind", "message"}],
//         "violations": [{"ref", "condition", "message"}], "languages": [...],
//         "activeLanguage": "..."}
//
// Answers are applied while walking the instance tree in document order, so an answer
// can open (make relevant) questions further on. A key starting with "/" is a node
// reference as the engine reports it (repeat instances carry positions:
// "/data/kids[2]/kid_name"); any other key is a node name, which must be unique.
// An answer whose node is not relevant when the walk reaches it is not set and is listed
// in "skipped". Values of "read" are the node's instance value as a string, or null when
// the node is not relevant (so not submitted).
// Error kinds: unknown-ref, ambiguous-name, not-an-option, constraint, readonly,
// not-settable, bad-value.
//
// Form attachments (what Collect downloads from the manifest, e.g. an entity list's
// cases.csv) come with "load" and "fill" as "attachments": {"cases.csv": "name,label\n..."};
// the engine reads them through fetchFormAttachment by their jr:// file name. A file the form
// names but the request does not give is an error; with no "attachments" at all, such files
// load blank (the engine's missingResourceBehavior BLANK), so any form can be inspected.
//
// The loaded form is cached per SHA-256 of the XForm text and its attachments; every fill
// uses a fresh instance (resetInstance disposes the previous instance's reactive scope).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { JSDOM } from 'jsdom';

const here = dirname(fileURLToPath(import.meta.url));

// Keep stdout for the protocol only.
for (const name of ['log', 'info', 'warn', 'debug', 'trace']) {
	console[name] = (...args) => console.error(...args);
}

// The DOM environment the engine expects outside a browser (no `window`).
const { window } = new JSDOM('');
globalThis.__dirname = here;
globalThis.DOMParser = window.DOMParser;
globalThis.XMLSerializer = window.XMLSerializer;
globalThis.document = window.document;
globalThis.Node = window.Node;

const { loadForm } = await import('@getodk/xforms-engine');
const engineVersion = JSON.parse(
	readFileSync(join(here, 'node_modules', '@getodk', 'xforms-engine', 'package.json'), 'utf8')
).version;

const FORM_CACHE_SIZE = 16;
const formCache = new Map(); // sha256 -> loaded form result (most recently used last)

class RequestError extends Error {}

const attachmentFetcher = (attachments) => async (url) => {
	const href = String(url?.href ?? url);
	const fileName = decodeURIComponent(href.slice(href.lastIndexOf('/') + 1));
	if (!Object.hasOwn(attachments, fileName)) {
		return { ok: false, status: 404, text: async () => '', blob: async () => new Blob([]) };
	}
	const text = String(attachments[fileName]);
	return {
		ok: true,
		status: 200,
		headers: new Headers({ 'content-type': fileName.endsWith('.csv') ? 'text/csv' : 'text/xml' }),
		text: async () => text,
		blob: async () => new Blob([text]),
	};
};

const loadCachedForm = async (xform, attachments) => {
	if (typeof xform !== 'string' || xform.length === 0) {
		throw new RequestError('"xform" must be the XForm text');
	}
	if (attachments !== undefined && attachments !== null && typeof attachments !== 'object') {
		throw new RequestError('"attachments" must map file names to their text');
	}
	const key = createHash('sha256')
		.update(xform)
		.update('\0')
		.update(JSON.stringify(attachments ?? null))
		.digest('hex');
	let form = formCache.get(key);
	if (form !== undefined) {
		formCache.delete(key);
	} else {
		// Never the network: with no attachments every file answers 404, which BLANK loads empty.
		form = await loadForm(xform, {
			fetchFormAttachment: attachmentFetcher(attachments ?? {}),
			missingResourceBehavior: attachments ? 'ERROR' : 'BLANK',
		});
		if (form.status === 'failure') {
			const causes = (form.error?.errors ?? []).map((c) => c?.message);
			const message = [form.error?.message, ...causes].filter(Boolean).join(': ');
			throw new RequestError(`the engine could not load the form: ${message}`);
		}
		if (formCache.size >= FORM_CACHE_SIZE) {
			formCache.delete(formCache.keys().next().value);
		}
	}
	formCache.set(key, form);
	return form;
};

const languageNames = (root) => root.languages.map((lang) => lang.language);

const setLanguage = (root, lang) => {
	if (lang === undefined || lang === null) {
		return;
	}
	const found = root.languages.find((l) => l.language === lang);
	if (found === undefined) {
		throw new RequestError(
			`the form has no language ${JSON.stringify(lang)}; it has ${JSON.stringify(languageNames(root))}`
		);
	}
	root.setLanguage(found);
};

const newInstance = async (xform, lang, attachments) => {
	const form = await loadCachedForm(xform, attachments);
	const { root } = form.resetInstance();
	setLanguage(root, lang);
	return { form, root };
};

const LEAF_TYPES = new Set([
	'model-value',
	'note',
	'select',
	'input',
	'trigger',
	'range',
	'rank',
	'attribute',
	'upload',
]);
const CONTROL_TYPES = new Set(['note', 'select', 'input', 'trigger', 'range', 'rank', 'upload']);

const nameOf = (reference) => {
	const last = reference.slice(reference.lastIndexOf('/') + 1);
	const bracket = last.indexOf('[');
	return bracket === -1 ? last : last.slice(0, bracket);
};

const childrenOf = (node) => node.currentState.children ?? [];

function* walk(node) {
	yield node;
	for (const child of childrenOf(node)) {
		yield* walk(child);
	}
}

// Looks up request keys (references or names) against nodes met during a walk.
class KeyMatcher {
	constructor(mapping) {
		this.byRef = new Map();
		this.byName = new Map();
		for (const [key, value] of Object.entries(mapping ?? {})) {
			(key.startsWith('/') ? this.byRef : this.byName).set(key, { value, used: null });
		}
	}

	// Returns {key, value} for the node, or null. Reports ambiguous names in `errors`.
	match(reference, errors) {
		const exact = this.byRef.get(reference);
		if (exact !== undefined && exact.used === null) {
			exact.used = reference;
			return { key: reference, value: exact.value };
		}
		const name = nameOf(reference);
		const byName = this.byName.get(name);
		if (byName !== undefined) {
			if (byName.used === null) {
				byName.used = reference;
				return { key: name, value: byName.value };
			}
			if (byName.used !== reference) {
				errors.push({
					ref: reference,
					kind: 'ambiguous-name',
					message: `name ${JSON.stringify(name)} matches ${byName.used} and ${reference}`,
				});
			}
		}
		return null;
	}

	unused() {
		return [...this.byRef, ...this.byName].filter(([, v]) => v.used === null).map(([k]) => k);
	}
}

const asValueList = (value) => {
	if (value === null || value === undefined) {
		return [];
	}
	if (Array.isArray(value)) {
		return value.map(String);
	}
	return String(value).split(' ').filter((v) => v !== '');
};

const violationMessage = (violation) => {
	try {
		return violation?.message?.asString ?? null;
	} catch {
		return null;
	}
};

// Sets one answer on a leaf node; returns an error object or null.
const applyAnswer = (node, reference, value) => {
	switch (node.nodeType) {
		case 'select': {
			const values = asValueList(value);
			const missing = values.filter((v) => node.getValueOption(v) === null);
			if (missing.length > 0) {
				const offered = node.currentState.valueOptions.map((item) => item.value);
				return {
					ref: reference,
					kind: 'not-an-option',
					message: `${JSON.stringify(missing)} not among the offered choices ${JSON.stringify(offered)}`,
				};
			}
			if (node.selectType === 'select1') {
				if (values.length > 1) {
					return { ref: reference, kind: 'bad-value', message: 'select_one takes one value' };
				}
				node.selectValue(values[0] ?? null);
			} else {
				node.selectValues(values);
			}
			break;
		}
		case 'input':
		case 'range': {
			if (value !== null && typeof value === 'object') {
				return { ref: reference, kind: 'bad-value', message: 'expected a single value' };
			}
			const text = value === null || value === undefined ? '' : String(value);
			try {
				node.setValue(text);
			} catch (caught) {
				return { ref: reference, kind: 'bad-value', message: String(caught?.message ?? caught) };
			}
			if (text !== '' && node.currentState.instanceValue === '') {
				return {
					ref: reference,
					kind: 'bad-value',
					message: `${JSON.stringify(text)} is not a valid ${node.valueType} value`,
				};
			}
			break;
		}
		default:
			return {
				ref: reference,
				kind: 'not-settable',
				message: `a ${node.nodeType} node cannot be answered by this harness`,
			};
	}
	const constraint = node.validationState.constraint;
	if (constraint !== undefined && !constraint.valid) {
		return { ref: reference, kind: 'constraint', message: violationMessage(constraint) };
	}
	return null;
};

const setRepeatCount = (range, reference, count) => {
	if (range.nodeType !== 'repeat-range:uncontrolled') {
		return { ref: reference, kind: 'not-settable', message: 'the repeat count is computed' };
	}
	if (!Number.isInteger(count) || count < 0) {
		return { ref: reference, kind: 'bad-value', message: 'a repeat count is an integer >= 0' };
	}
	const current = range.currentState.children.length;
	if (count > current) {
		range.addInstances(current - 1, count - current);
	} else if (count < current) {
		range.removeInstances(count, current - count);
	}
	return null;
};

const fill = async (request) => {
	const { root } = await newInstance(request.xform, request.lang, request.attachments);
	const answers = new KeyMatcher(request.answers);
	const repeats = new KeyMatcher(request.repeats);
	const applied = [];
	const skipped = [];
	const errors = [];

	const visit = (node) => {
		const reference = node.currentState.reference;
		if (node.nodeType.startsWith('repeat-range')) {
			const hit = repeats.match(reference, errors);
			if (hit !== null) {
				if (!node.currentState.relevant) {
					skipped.push(reference);
				} else {
					const error = setRepeatCount(node, reference, hit.value);
					if (error !== null) {
						errors.push(error);
					}
				}
			}
		} else if (LEAF_TYPES.has(node.nodeType)) {
			const hit = answers.match(reference, errors);
			if (hit !== null) {
				if (!node.currentState.relevant) {
					skipped.push(reference);
				} else if (node.currentState.readonly) {
					errors.push({ ref: reference, kind: 'readonly', message: 'the node is read-only' });
				} else {
					const error = applyAnswer(node, reference, hit.value);
					if (error === null) {
						applied.push(reference);
					} else {
						errors.push(error);
					}
				}
			}
			return;
		}
		// The child list is read after this node was handled: added repeat instances count.
		for (const child of childrenOf(node)) {
			visit(child);
		}
	};
	visit(root);

	for (const key of answers.unused()) {
		errors.push({ ref: key, kind: 'unknown-ref', message: 'no node of the form has this reference or name' });
	}
	for (const key of repeats.unused()) {
		errors.push({ ref: key, kind: 'unknown-ref', message: 'no repeat of the form has this reference or name' });
	}

	const values = {};
	const wanted = new Set(request.read ?? []);
	const found = new Set();
	const ambiguous = new Set();
	for (const node of walk(root)) {
		if (!LEAF_TYPES.has(node.nodeType)) {
			continue;
		}
		const reference = node.currentState.reference;
		const key = wanted.has(reference) ? reference : wanted.has(nameOf(reference)) ? nameOf(reference) : null;
		if (key === null) {
			continue;
		}
		if (found.has(key)) {
			ambiguous.add(key);
			continue;
		}
		found.add(key);
		values[key] = node.currentState.relevant ? node.currentState.instanceValue : null;
	}
	for (const key of wanted) {
		if (ambiguous.has(key)) {
			delete values[key];
			errors.push({ ref: key, kind: 'ambiguous-name', message: 'the name matches more than one node' });
		} else if (!found.has(key)) {
			errors.push({ ref: key, kind: 'unknown-ref', message: 'no node of the form has this reference or name' });
		}
	}

	const violations = root.validationState.violations.map((v) => ({
		ref: v.reference,
		condition: v.violation.condition,
		message: violationMessage(v.violation),
	}));

	return {
		instanceXML: root.instanceState.instanceXML,
		values,
		applied,
		skipped,
		errors,
		violations,
		languages: languageNames(root),
		activeLanguage: root.currentState.activeLanguage.language,
	};
};

const textOf = (range) => (range === null || range === undefined ? null : range.asString);

const load = async (request) => {
	const { form, root } = await newInstance(request.xform, request.lang, request.attachments);
	const wanted = Number.isInteger(request.labels) ? request.labels : 5;
	const labels = [];
	for (const node of walk(root)) {
		if (labels.length >= wanted) {
			break;
		}
		if (!CONTROL_TYPES.has(node.nodeType)) {
			continue;
		}
		const entry = {
			ref: node.currentState.reference,
			nodeType: node.nodeType,
			label: textOf(node.currentState.label),
		};
		if (node.nodeType === 'select') {
			entry.options = node.currentState.valueOptions.map((item) => ({
				value: item.value,
				label: textOf(item.label),
			}));
		}
		labels.push(entry);
	}
	const defaultLanguage = root.languages.find((l) => l.isDefault);
	return {
		status: form.status,
		languages: languageNames(root),
		defaultLanguage: defaultLanguage === undefined ? null : defaultLanguage.language,
		activeLanguage: root.currentState.activeLanguage.language,
		labels,
	};
};

const handle = async (request) => {
	switch (request.op) {
		case 'ping':
			return { engine: engineVersion };
		case 'load':
			return load(request);
		case 'fill':
			return fill(request);
		default:
			throw new RequestError(`unknown op ${JSON.stringify(request.op)}`);
	}
};

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
	if (line.trim() === '') {
		continue;
	}
	let request = null;
	let response;
	try {
		request = JSON.parse(line);
		response = { id: request.id ?? null, ok: true, ...(await handle(request)) };
	} catch (caught) {
		if (!(caught instanceof RequestError) && !(caught instanceof SyntaxError)) {
			console.error(caught);
		}
		response = {
			id: request?.id ?? null,
			ok: false,
			error: String(caught?.message ?? caught),
			kind: caught instanceof RequestError || caught instanceof SyntaxError ? 'request' : 'engine',
		};
	}
	process.stdout.write(`${JSON.stringify(response)}\n`);
}
