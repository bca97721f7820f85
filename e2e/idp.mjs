// A real OpenID Connect provider (oidc-provider) for the Rust tests: one client, three
// accounts, a login form (or an automatic login), and controls to make the next ID token
// wrong in one precise way.
//
// Env: IDP_CLIENT_ID, IDP_CLIENT_SECRET, IDP_REDIRECT_URI. Listens on 127.0.0.1, a port the OS
// picks; prints one line, {"issuer":"http://127.0.0.1:<port>"}, and nothing else on stdout.
// Exits when stdin closes (the test that started it is gone) or on SIGTERM.
//
// Controls (loopback, no auth, each answers 204 unless noted):
//   POST /_test/auto-login?sub=<subject>  log in as <subject> without a page; no sub: the form
//   POST /_test/tamper?mode=<mode>        the next token answer's ID token is changed, re-signed
//                                         with the same key and kid: wrong-nonce,
//                                         other-audience, expired, wrong-signature,
//                                         stale-auth-time (an hour old), no-auth-time;
//                                         none clears
//   GET  /_test/logins                    200 {"token_requests": n, "last_error": body | null}

import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { CompactSign, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from "jose";
import Provider from "oidc-provider";

// oidc-provider prints notices ("default ttl.* function called…") with console.info, which
// is stdout: the issuer line must stay the only thing there.
console.log = console.info = console.error;

const { IDP_CLIENT_ID, IDP_CLIENT_SECRET, IDP_REDIRECT_URI } = process.env;
if (!IDP_CLIENT_ID || !IDP_CLIENT_SECRET || !IDP_REDIRECT_URI) {
  console.error("idp.mjs: IDP_CLIENT_ID, IDP_CLIENT_SECRET and IDP_REDIRECT_URI are required");
  process.exit(2);
}

const ACCOUNTS = {
  "owner-sub": { email: "owner@example.test", email_verified: true, name: "Owner" },
  "stranger-sub": { email: "stranger@example.test", email_verified: true, name: "Stranger" },
  "unverified-sub": { email: "unverified@example.test", email_verified: false, name: "Unverified" },
};

// Our own signing key (not oidc-provider's built-in one), so a tampered token can be
// re-signed with exactly the key and kid the JWKS publishes.
const KID = "idp-test-key";
const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const privateJwk = { ...(await exportJWK(privateKey)), kid: KID, alg: "RS256", use: "sig" };

let autoLoginSub = null;
let tamperMode = "none";
let tokenRequests = 0;
let lastError = null;

const server = createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: IDP_CLIENT_ID,
    client_secret: IDP_CLIENT_SECRET,
    token_endpoint_auth_method: "client_secret_basic",
    response_types: ["code"],
    grant_types: ["authorization_code"],
    redirect_uris: [IDP_REDIRECT_URI],
  }],
  // oidc-provider 9 accepts S256 only; this makes PKCE mandatory for every client.
  pkce: { required: () => true },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  // Put the scope's claims in the ID token too, as Google does.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ["clawhost-test-idp-cookie-key"] },
  jwks: { keys: [privateJwk] },
  async findAccount(ctx, sub) {
    const claims = ACCOUNTS[sub];
    return claims && { accountId: sub, claims: async () => ({ sub, ...claims }) };
  },
});

// Counts token requests, remembers the last refusal, and applies a pending tamper mode.
// provider.use runs this inside oidc-provider's error handling, so a refusal is a 400 here.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== "/token" || ctx.method !== "POST") return;
  tokenRequests += 1;
  if (ctx.status !== 200) {
    lastError = ctx.body ?? null;
  } else if (tamperMode !== "none" && ctx.body?.id_token) {
    const mode = tamperMode;
    tamperMode = "none";
    ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token, mode) };
  }
});

async function tamper(jwt, mode) {
  const header = decodeProtectedHeader(jwt);
  const claims = JSON.parse(Buffer.from(jwt.split(".")[1], "base64url"));
  const now = Math.floor(Date.now() / 1000);
  let key = await importJWK(privateJwk, "RS256");
  if (mode === "wrong-nonce") claims.nonce = randomBytes(16).toString("base64url");
  else if (mode === "other-audience") claims.aud = "someone-else";
  else if (mode === "expired") Object.assign(claims, { exp: now - 3600, iat: now - 7200 });
  else if (mode === "wrong-signature") key = (await generateKeyPair("RS256")).privateKey;
  else if (mode === "stale-auth-time") claims.auth_time = now - 3600;
  else if (mode === "no-auth-time") delete claims.auth_time;
  return new CompactSign(Buffer.from(JSON.stringify(claims))).setProtectedHeader(header).sign(key);
}

const TAMPER_MODES = new Set([
  "none", "wrong-nonce", "other-audience", "expired", "wrong-signature", "stale-auth-time", "no-auth-time",
]);
const oidc = provider.callback();

server.on("request", async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname.startsWith("/_test/")) return control(req, res, url);
    const m = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (m) return await interaction(req, res, m[2] ? await formField(req, "login") : undefined);
    return oidc(req, res);
  } catch (err) {
    console.error("idp.mjs:", err);
    if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
    res.end(String(err));
  }
});

function control(req, res, url) {
  const answer = (status, body) => {
    res.writeHead(status, body ? { "content-type": "application/json" } : {});
    res.end(body && JSON.stringify(body));
  };
  if (req.method === "POST" && url.pathname === "/_test/auto-login") {
    autoLoginSub = url.searchParams.get("sub") || null;
    return answer(204);
  }
  if (req.method === "POST" && url.pathname === "/_test/tamper") {
    const mode = url.searchParams.get("mode") || "none";
    if (!TAMPER_MODES.has(mode)) return answer(400, { error: `unknown mode ${mode}` });
    tamperMode = mode;
    return answer(204);
  }
  if (req.method === "GET" && url.pathname === "/_test/logins") {
    return answer(200, { token_requests: tokenRequests, last_error: lastError });
  }
  return answer(404, { error: "no such control" });
}

/// GET /interaction/:uid, or its form's POST (`login` is then the subject typed in).
async function interaction(req, res, login) {
  const { uid, prompt, params, session, grantId } = await provider.interactionDetails(req, res);
  if (prompt.name === "login") {
    const sub = login ?? autoLoginSub;
    if (sub && ACCOUNTS[sub]) {
      return provider.interactionFinished(req, res, { login: { accountId: sub } }, { mergeWithLastSubmission: false });
    }
    const error = login === undefined ? "" : `<p role="alert">No account "${escapeHtml(login)}".</p>`;
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    return res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test IdP sign-in</title></head>
<body><main><h1>Test IdP sign-in</h1>${error}
<form method="post" action="/interaction/${uid}/login">
<label for="login">Account</label> <input id="login" name="login" type="text" autofocus>
<button type="submit">Sign in</button>
</form></main></body></html>`);
  }
  // Consent: grant whatever is missing at once, as oidc-provider's own dev interaction does.
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(" "));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const result = { consent: { grantId: await grant.save() } };
  return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

async function formField(req, name) {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body).get(name) ?? "";
}

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Before the issuer line: once the parent has read it, it may close stdin or signal at once.
process.stdin.on("end", () => process.exit(0)).on("close", () => process.exit(0)).resume();
process.on("SIGTERM", () => process.exit(0));
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
