// The kms web console: every action is an AWS KMS JSON API call (or one of this service's own,
// LookupAuditEvents and VerifyAuditTrail), signed with SigV4 in the page with WebCrypto, so the
// console can do nothing a client could not. No build step: this file is served as it is.
"use strict";

const SPECS = ["SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256",
  "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "HMAC_224",
  "HMAC_256", "HMAC_384", "HMAC_512", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ML_KEM_512",
  "ML_KEM_768", "ML_KEM_1024"];
const USAGES = ["ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT",
  "KEY_ENCAPSULATION"];
const STATES = ["Enabled", "Disabled", "PendingDeletion", "PendingReplicaDeletion",
  "PendingImport", "Unavailable"];
const ORIGINS = ["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"];

// ---- SigV4 with WebCrypto -------------------------------------------------------------------

const encoder = new TextEncoder();

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

async function hmac(key, text) {
  const raw = typeof key === "string" ? encoder.encode(key) : key;
  const imported = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" },
    false, ["sign"]);
  return crypto.subtle.sign("HMAC", imported, encoder.encode(text));
}

// The Authorization and X-Amz-Date headers of a POST to / with `headers` and `body`.
async function sign(credentials, headers, body) {
  const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const date = amzDate.slice(0, 8);
  const all = { ...headers, host: location.host, "x-amz-date": amzDate };
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), v]));
  const canonicalHeaders = names.map((n) => `${n}:${String(lower[n]).trim()}\n`).join("");
  const signedHeaders = names.join(";");
  const canonical = ["POST", "/", "", canonicalHeaders, signedHeaders, await sha256Hex(body)]
    .join("\n");
  const scope = `${date}/${credentials.region}/kms/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, await sha256Hex(canonical)].join("\n");
  let key = await hmac("AWS4" + credentials.secret, date);
  key = await hmac(key, credentials.region);
  key = await hmac(key, "kms");
  key = await hmac(key, "aws4_request");
  const signature = hex(await hmac(key, toSign));
  return {
    "X-Amz-Date": amzDate,
    Authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
      `SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

class ApiError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type;
  }
}

let credentials = null;

// One API call: the parsed answer, or an ApiError with AWS's exception name.
async function call(operation, request = {}) {
  const body = JSON.stringify(request);
  const headers = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": `TrentService.${operation}`,
  };
  const signed = await sign(credentials, headers, body);
  const response = await fetch("/", { method: "POST", headers: { ...headers, ...signed }, body });
  const text = await response.text();
  const json = text ? JSON.parse(text) : {};
  if (!response.ok) {
    const type = String(json.__type || "Error").split("#").pop();
    throw new ApiError(type, json.message || json.Message || text);
  }
  return json;
}

// ---- Small DOM helpers ----------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

function select(id, options, value = "") {
  return el("select", { id }, el("option", { value: "" }, "any"),
    options.map((o) => el("option", { value: o, selected: o === value ? "" : null }, o)));
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) : "";
}

const view = () => document.getElementById("view");

function show(...nodes) {
  view().replaceChildren(...nodes);
}

function errorBox(id) {
  return el("p", { class: "error", id, role: "alert" });
}

// Runs an action, showing its error (AWS's exception and message) in `box`.
async function attempt(box, action) {
  box.textContent = "";
  try {
    await action();
    return true;
  } catch (e) {
    box.textContent = e instanceof ApiError ? `${e.type}: ${e.message}` : String(e);
    return false;
  }
}

// ---- Keys -----------------------------------------------------------------------------------

async function allKeys() {
  const keys = [];
  let marker;
  do {
    const page = await call("ListKeys", marker ? { Marker: marker, Limit: 1000 } : { Limit: 1000 });
    keys.push(...page.Keys);
    marker = page.Truncated ? page.NextMarker : null;
  } while (marker);
  return Promise.all(keys.map(async (k) => {
    const [described, tags, aliases] = await Promise.all([
      call("DescribeKey", { KeyId: k.KeyId }),
      call("ListResourceTags", { KeyId: k.KeyId }).catch(() => ({ Tags: [] })),
      call("ListAliases", { KeyId: k.KeyId }).catch(() => ({ Aliases: [] })),
    ]);
    return { meta: described.KeyMetadata, tags: tags.Tags, aliases: aliases.Aliases };
  }));
}

async function keysView() {
  const box = errorBox("keys-error");
  const filters = el("div", { class: "filters" },
    el("label", {}, "Search ", el("input", { id: "key-search", placeholder: "id, alias, description, tag" })),
    el("label", {}, "State ", select("filter-state", STATES)),
    el("label", {}, "Spec ", select("filter-spec", SPECS)),
    el("label", {}, "Usage ", select("filter-usage", USAGES)),
    el("label", {}, "Origin ", select("filter-origin", ORIGINS)),
    el("label", {}, "Region ", el("input", { id: "filter-region", value: credentials.region, size: 12 })),
    el("button", {
      type: "button", id: "switch-region",
      onclick: () => {
        // Each region is its own namespace: its keys are listed by a request scoped to it.
        credentials.region = document.getElementById("filter-region").value.trim();
        sessionStorage.setItem("kms-console", JSON.stringify(credentials));
        document.getElementById("who").textContent = `${credentials.accessKeyId} · ${credentials.region}`;
        keysView();
      },
    }, "Show region"));
  const table = el("table", { id: "keys-table" });
  show(el("h2", {}, "Keys"), filters, box, table);
  let keys = [];
  const render = () => {
    const value = (id) => document.getElementById(id).value;
    const search = value("key-search").toLowerCase();
    const rows = keys.filter(({ meta, tags, aliases }) =>
      (!value("filter-state") || meta.KeyState === value("filter-state")) &&
      (!value("filter-spec") || meta.KeySpec === value("filter-spec")) &&
      (!value("filter-usage") || meta.KeyUsage === value("filter-usage")) &&
      (!value("filter-origin") || meta.Origin === value("filter-origin")) &&
      (!search || [meta.KeyId, meta.Description, ...aliases.map((a) => a.AliasName),
        ...tags.map((t) => `${t.TagKey}=${t.TagValue}`)].join(" ").toLowerCase().includes(search)));
    table.replaceChildren(
      el("tr", {}, ["Key", "Aliases", "State", "Spec", "Usage", "Origin", "Tags", "Created"]
        .map((h) => el("th", {}, h))),
      ...rows.map(({ meta, tags, aliases }) => el("tr", { class: "key-row" },
        el("td", {}, el("a", { href: `#key/${meta.KeyId}` }, meta.KeyId)),
        el("td", {}, aliases.map((a) => a.AliasName).join(", ")),
        el("td", {}, meta.KeyState), el("td", {}, meta.KeySpec), el("td", {}, meta.KeyUsage),
        el("td", {}, meta.Origin),
        el("td", {}, tags.map((t) => `${t.TagKey}=${t.TagValue}`).join(", ")),
        el("td", {}, when(meta.CreationDate)))));
  };
  for (const input of filters.querySelectorAll("input, select")) {
    input.addEventListener("input", render);
  }
  await attempt(box, async () => {
    keys = await allKeys();
    render();
  });
}

async function createView() {
  const box = errorBox("create-error");
  const form = el("form", { id: "create-form" },
    el("label", {}, "Key spec ", el("select", { id: "create-spec" },
      SPECS.map((s) => el("option", { value: s }, s)))),
    el("label", {}, "Key usage ", el("select", { id: "create-usage" },
      USAGES.map((u) => el("option", { value: u }, u)))),
    el("label", {}, "Description ", el("input", { id: "create-description", size: 60 })),
    el("label", {}, "Origin ", el("select", { id: "create-origin" },
      ["AWS_KMS", "EXTERNAL"].map((o) => el("option", { value: o }, o)))),
    el("label", {}, el("input", { id: "create-multi-region", type: "checkbox" }), " Multi-Region"),
    el("button", { type: "submit", id: "create-button" }, "Create key"), box);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (id) => document.getElementById(id).value;
    await attempt(box, async () => {
      const created = await call("CreateKey", {
        KeySpec: value("create-spec"), KeyUsage: value("create-usage"),
        Description: value("create-description"), Origin: value("create-origin"),
        MultiRegion: document.getElementById("create-multi-region").checked,
      });
      location.hash = `#key/${created.KeyMetadata.KeyId}`;
    });
  });
  show(el("h2", {}, "Create a key"), form);
}

function section(title, ...children) {
  return el("div", { class: "card" }, el("h3", {}, title), ...children);
}

async function keyView(keyId) {
  const box = errorBox("key-error");
  show(el("h2", {}, `Key ${keyId}`), box);
  const reload = () => keyView(keyId);
  const act = (label, id, action) => el("button", {
    type: "button", id,
    onclick: async () => { if (await attempt(box, action)) await reload(); },
  }, label);
  await attempt(box, async () => {
    const meta = (await call("DescribeKey", { KeyId: keyId })).KeyMetadata;
    const details = el("table", { id: "key-details" }, Object.entries(meta)
      .filter(([, v]) => typeof v !== "object")
      .map(([k, v]) => el("tr", {}, el("th", {}, k),
        el("td", {}, /Date$/.test(k) ? when(v) : String(v)))));
    const state = el("div", { class: "actions" },
      meta.KeyState === "Enabled" ? act("Disable", "disable-key", () => call("DisableKey", { KeyId: keyId }))
        : act("Enable", "enable-key", () => call("EnableKey", { KeyId: keyId })),
      meta.KeyState === "PendingDeletion"
        ? act("Cancel deletion", "cancel-deletion", () => call("CancelKeyDeletion", { KeyId: keyId }))
        : el("span", {}, el("input", { id: "deletion-days", type: "number", min: 7, max: 30, value: 30 }),
          act("Schedule deletion", "schedule-deletion", () => call("ScheduleKeyDeletion", {
            KeyId: keyId, PendingWindowInDays: Number(document.getElementById("deletion-days").value),
          }))));
    show(el("h2", {}, `Key ${keyId}`), box, section("Details", details, state));
    const parts = await Promise.allSettled([
      rotationSection(keyId, act), aliasSection(keyId, act), tagSection(keyId, act),
      policySection(keyId), grantSection(keyId, act), pluginSection(keyId, act),
    ]);
    for (const part of parts) {
      view().append(part.status === "fulfilled" ? part.value
        : section("Unavailable", el("p", { class: "error" }, String(part.reason.message))));
    }
  });
}

async function rotationSection(keyId, act) {
  const status = await call("GetKeyRotationStatus", { KeyId: keyId }).catch((e) => ({ error: e }));
  if (status.error) return section("Rotation", el("p", {}, `${status.error.type}: ${status.error.message}`));
  const rotations = await call("ListKeyRotations", { KeyId: keyId });
  return section("Rotation",
    el("p", { id: "rotation-status" }, status.KeyRotationEnabled
      ? `Automatic every ${status.RotationPeriodInDays} days, next ${when(status.NextRotationDate)}`
      : "Automatic rotation is off"),
    el("div", { class: "actions" },
      el("input", { id: "rotation-days", type: "number", min: 90, max: 2560, value: status.RotationPeriodInDays || 365 }),
      act("Enable automatic rotation", "enable-rotation", () => call("EnableKeyRotation", {
        KeyId: keyId, RotationPeriodInDays: Number(document.getElementById("rotation-days").value),
      })),
      act("Disable automatic rotation", "disable-rotation", () => call("DisableKeyRotation", { KeyId: keyId })),
      act("Rotate now", "rotate-now", () => call("RotateKeyOnDemand", { KeyId: keyId }))),
    el("table", {}, el("tr", {}, el("th", {}, "Rotated"), el("th", {}, "Type")),
      rotations.Rotations.map((r) => el("tr", {}, el("td", {}, when(r.RotationDate)),
        el("td", {}, r.RotationType)))));
}

async function aliasSection(keyId, act) {
  const aliases = (await call("ListAliases", { KeyId: keyId })).Aliases;
  return section("Aliases",
    el("ul", { id: "aliases" }, aliases.map((a) => el("li", {}, a.AliasName, " ",
      act("Delete", null, () => call("DeleteAlias", { AliasName: a.AliasName }))))),
    el("div", { class: "actions" }, el("input", { id: "alias-name", placeholder: "alias/name" }),
      act("Create alias", "create-alias", () => call("CreateAlias", {
        AliasName: document.getElementById("alias-name").value, TargetKeyId: keyId,
      }))));
}

async function tagSection(keyId, act) {
  const tags = (await call("ListResourceTags", { KeyId: keyId })).Tags;
  return section("Tags",
    el("ul", { id: "tags" }, tags.map((t) => el("li", {}, `${t.TagKey}=${t.TagValue} `,
      act("Remove", null, () => call("UntagResource", { KeyId: keyId, TagKeys: [t.TagKey] }))))),
    el("div", { class: "actions" }, el("input", { id: "tag-key", placeholder: "key" }),
      el("input", { id: "tag-value", placeholder: "value" }),
      act("Add tag", "add-tag", () => call("TagResource", {
        KeyId: keyId, Tags: [{ TagKey: document.getElementById("tag-key").value,
          TagValue: document.getElementById("tag-value").value }],
      }))));
}

async function policySection(keyId) {
  const policy = (await call("GetKeyPolicy", { KeyId: keyId, PolicyName: "default" })).Policy;
  let pretty = policy;
  try { pretty = JSON.stringify(JSON.parse(policy), null, 2); } catch { /* shown as stored */ }
  const editor = el("textarea", { id: "policy-editor", spellcheck: "false" }, pretty);
  const box = errorBox("policy-error");
  const saved = el("p", { class: "ok", id: "policy-saved" });
  return section("Key policy", editor,
    el("div", { class: "actions" }, el("button", {
      type: "button", id: "save-policy",
      onclick: async () => {
        saved.textContent = "";
        if (await attempt(box, () => call("PutKeyPolicy", {
          KeyId: keyId, PolicyName: "default", Policy: editor.value,
        }))) saved.textContent = "Saved.";
      },
    }, "Save policy")), box, saved);
}

async function grantSection(keyId, act) {
  const grants = (await call("ListGrants", { KeyId: keyId, Limit: 100 })).Grants;
  return section("Grants",
    el("table", { id: "grants" }, el("tr", {}, ["Grant", "Grantee", "Operations", ""].map((h) => el("th", {}, h))),
      grants.map((g) => el("tr", {}, el("td", {}, g.GrantId.slice(0, 16) + "…"),
        el("td", {}, g.GranteePrincipal), el("td", {}, g.Operations.join(", ")),
        el("td", {}, act("Revoke", null, () => call("RevokeGrant", { KeyId: keyId, GrantId: g.GrantId })))))),
    el("div", { class: "actions" },
      el("input", { id: "grantee", placeholder: "grantee principal ARN", size: 45 }),
      el("input", { id: "grant-operations", placeholder: "Encrypt,Decrypt" }),
      act("Create grant", "create-grant", () => call("CreateGrant", {
        KeyId: keyId, GranteePrincipal: document.getElementById("grantee").value,
        Operations: document.getElementById("grant-operations").value.split(",").map((s) => s.trim()),
      }))));
}

async function pluginSection(keyId, act) {
  const scope = keyId ? { KeyId: keyId } : {};
  const plugins = (await call("ListPolicyPlugins", scope)).Plugins || [];
  const file = el("input", { id: "plugin-file", type: "file", accept: ".wasm" });
  return section(keyId ? "Policy plugins" : "Account guard-rail plugins",
    el("ul", { id: "plugins" }, plugins.map((p) => el("li", {}, `${p.PluginName} (${String(p.ComponentDigest).slice(0, 12)}…) `,
      act("Detach", null, () => call("DetachPolicyPlugin", { ...scope, PluginName: p.PluginName }))))),
    el("div", { class: "actions" }, el("input", { id: "plugin-name", placeholder: "name" }), file,
      act("Attach", "attach-plugin", async () => {
        const bytes = new Uint8Array(await file.files[0].arrayBuffer());
        let binary = "";
        for (const b of bytes) binary += String.fromCharCode(b);
        await call("AttachPolicyPlugin", {
          ...scope, PluginName: document.getElementById("plugin-name").value,
          Component: btoa(binary),
        });
      })));
}

async function accountPluginsView() {
  const box = errorBox("plugins-error");
  show(el("h2", {}, "Account plugins"), box);
  await attempt(box, async () => {
    const act = (label, id, action) => el("button", {
      type: "button", id, onclick: async () => { if (await attempt(box, action)) await accountPluginsView(); },
    }, label);
    view().append(await pluginSection(null, act));
  });
}

// ---- Audit ----------------------------------------------------------------------------------

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
  "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
  "#31a354", "#756bb1", "#636363"];

// Requests per time bucket, stacked by operation; failures drawn below the axis in red.
function chart(events) {
  const width = 900, height = 220, axis = 150;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("id", "audit-chart");
  if (!events.length) return svg;
  const first = events[0].Time, last = events[events.length - 1].Time;
  const buckets = 40, span = Math.max(1, last - first + 1), size = Math.ceil(span / buckets);
  const operations = [...new Set(events.map((e) => e.Operation))];
  const counts = Array.from({ length: buckets }, () => ({ ok: {}, failed: 0 }));
  for (const e of events) {
    const b = counts[Math.min(buckets - 1, Math.floor((e.Time - first) / size))];
    if (e.Outcome === "Success") b.ok[e.Operation] = (b.ok[e.Operation] || 0) + 1;
    else b.failed += 1;
  }
  const most = Math.max(1, ...counts.map((b) => Object.values(b.ok).reduce((a, n) => a + n, 0)),
    ...counts.map((b) => b.failed));
  const barWidth = width / buckets;
  const rect = (x, y, h, color, title) => {
    const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    Object.entries({ x, y, width: barWidth - 2, height: h, fill: color }).forEach(([k, v]) => r.setAttribute(k, v));
    const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
    t.textContent = title;
    r.append(t);
    svg.append(r);
  };
  counts.forEach((b, i) => {
    let y = axis;
    operations.forEach((op, j) => {
      const n = b.ok[op] || 0;
      if (!n) return;
      const h = (n / most) * (axis - 10);
      y -= h;
      rect(i * barWidth, y, h, PALETTE[j % PALETTE.length], `${op}: ${n} succeeded`);
    });
    if (b.failed) rect(i * barWidth, axis + 2, (b.failed / most) * (height - axis - 10), "#b3261e", `${b.failed} failed`);
  });
  return svg;
}

async function auditView() {
  const box = errorBox("audit-error");
  const status = el("p", { id: "audit-verification" });
  const filters = el("form", { class: "filters", id: "audit-filters" },
    el("label", {}, "Key ", el("input", { id: "audit-key", placeholder: "key id or ARN" })),
    el("label", {}, "Principal ", el("input", { id: "audit-principal", placeholder: "ARN", size: 36 })),
    el("label", {}, "Operation ", el("input", { id: "audit-operation", placeholder: "Encrypt" })),
    el("label", {}, "Outcome ", el("select", { id: "audit-outcome" },
      ["", "Success", "Failure"].map((o) => el("option", { value: o }, o || "any")))),
    el("label", {}, "From ", el("input", { id: "audit-from", type: "datetime-local" })),
    el("label", {}, "To ", el("input", { id: "audit-to", type: "datetime-local" })),
    el("button", { type: "submit", id: "audit-search" }, "Search"));
  const results = el("div", { id: "audit-results" });
  show(el("h2", {}, "Audit trail"), status, filters, box, results);
  const search = async () => attempt(box, async () => {
    const value = (id) => document.getElementById(id).value;
    const time = (id) => value(id) ? Math.floor(new Date(value(id)).getTime() / 1000) : undefined;
    const answer = await call("LookupAuditEvents", {
      Latest: 5000, Limit: 1000, KeyId: value("audit-key") || undefined,
      Principal: value("audit-principal") || undefined,
      Operation: value("audit-operation") || undefined, Outcome: value("audit-outcome") || undefined,
      StartTime: time("audit-from"), EndTime: time("audit-to"),
    });
    const events = answer.Events;
    const operations = [...new Set(events.map((e) => e.Operation))];
    results.replaceChildren(
      el("p", {}, `${events.length} events (of the last ${Math.min(5000, answer.LastSeq)} records)`),
      chart(events),
      el("p", { class: "legend" }, operations.map((op, j) => el("span", {},
        el("span", { class: "swatch", style: `background:${PALETTE[j % PALETTE.length]}` }), op)),
        el("span", {}, el("span", { class: "swatch", style: "background:#b3261e" }), "failed")),
      el("table", { id: "audit-table" },
        el("tr", {}, ["#", "Time", "Operation", "Principal", "Key", "Outcome"].map((h) => el("th", {}, h))),
        events.slice().reverse().map((e) => el("tr", { class: "audit-row" },
          el("td", {}, e.Seq), el("td", {}, when(e.Time)), el("td", {}, e.Operation),
          el("td", {}, e.Principal), el("td", {}, e.KeyArn || ""),
          el("td", { class: e.Outcome === "Success" ? "ok" : "error" }, e.Outcome)))));
  });
  filters.addEventListener("submit", (event) => { event.preventDefault(); search(); });
  await attempt(box, async () => {
    const verified = await call("VerifyAuditTrail", {});
    status.textContent = verified.Intact
      ? `Chain verified: ${verified.Records} records intact.`
      : `Chain BROKEN at record ${verified.BrokenAt}: ${verified.Reason}`;
    status.className = verified.Intact ? "ok" : "error";
  });
  await search();
}

// ---- Navigation -----------------------------------------------------------------------------

async function route() {
  if (!credentials) return;
  const hash = location.hash.slice(1) || "keys";
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.getAttribute("href") === `#${hash.split("/")[0]}`);
  }
  if (hash.startsWith("key/")) await keyView(decodeURIComponent(hash.slice(4)));
  else if (hash === "create") await createView();
  else if (hash === "audit") await auditView();
  else if (hash === "plugins") await accountPluginsView();
  else await keysView();
}

function signedIn(who) {
  document.getElementById("sign-in-view").hidden = true;
  document.getElementById("view").hidden = false;
  document.getElementById("nav").hidden = false;
  document.getElementById("who").textContent = `${who} · ${credentials.region}`;
  route();
}

document.addEventListener("DOMContentLoaded", () => {
  window.addEventListener("hashchange", route);
  document.getElementById("sign-out").addEventListener("click", () => {
    credentials = null;
    sessionStorage.removeItem("kms-console");
    location.hash = "";
    location.reload();
  });
  const saved = sessionStorage.getItem("kms-console");
  if (saved) {
    credentials = JSON.parse(saved);
    signedIn(credentials.accessKeyId);
  }
  document.getElementById("sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = document.getElementById("sign-in-error");
    credentials = {
      accessKeyId: document.getElementById("access-key-id").value.trim(),
      secret: document.getElementById("secret-access-key").value.trim(),
      region: document.getElementById("region").value.trim(),
    };
    // ListKeys proves the credentials: a wrong secret is refused as any client is.
    if (await attempt(box, () => call("ListKeys", { Limit: 1 }))) {
      sessionStorage.setItem("kms-console", JSON.stringify(credentials));
      signedIn(credentials.accessKeyId);
    } else {
      credentials = null;
    }
  });
});
