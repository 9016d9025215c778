// Stand-in for Shopify's App Bridge (https://cdn.shopify.com/shopifycloud/app-bridge.js) in the
// browser tests, where the real one cannot load (no internet) and has no admin to talk to.
// It does what the page relies on, as App Bridge documents it:
//  - shopify.idToken(): a fresh ID token (here from the test, which mints it with the test secret);
//  - same-origin fetch gets "Authorization: Bearer <ID token>", and a 401 carrying
//    X-Shopify-Retry-Invalid-Session-Request: 1 is retried once with a fresh token;
//  - clicks on same-origin links (a, s-link) navigate the frame the way the admin does: with the
//    admin's query parameters and a fresh id_token;
//  - on the bounce page (/auth/patch-id-token) it gets a fresh token and reloads shopify-reload.
// https://shopify.dev/docs/api/app-home/apis/authentication-and-data/id-token-api
// https://shopify.dev/docs/api/app-home/apis/authentication-and-data/resource-fetching-api
(function () {
  "use strict";
  const TOKEN_URL = "https://admin.shopify.com/__standin__/id-token";
  const script = document.currentScript;
  const apiKey = (script && script.dataset.apiKey) ||
    (document.querySelector('meta[name="shopify-api-key"]') || {}).content;
  if (!apiKey) throw new Error("App Bridge: no API key (meta shopify-api-key or data-api-key)");
  if (document.querySelector("script[src]") !== script) throw new Error("App Bridge must be the first script");

  const nativeFetch = window.fetch.bind(window);
  let admin = null; // {shop, host, token}: what the admin knows

  async function fetchToken() {
    const response = await nativeFetch(TOKEN_URL + "?api_key=" + encodeURIComponent(apiKey), { cache: "no-store" });
    if (!response.ok) throw new Error("App Bridge stand-in: no ID token (" + response.status + ")");
    admin = await response.json();
    return admin.token;
  }

  function sameOrigin(url) {
    return new URL(url, window.location.href).origin === window.location.origin;
  }

  window.fetch = async function (input, init) {
    const url = input instanceof Request ? input.url : String(input);
    if (!sameOrigin(url)) return nativeFetch(input, init);
    const send = async () => {
      const headers = new Headers((init && init.headers) || (input instanceof Request ? input.headers : undefined));
      headers.set("Authorization", "Bearer " + (await fetchToken()));
      return nativeFetch(input, Object.assign({}, init, { headers }));
    };
    const response = await send();
    if (response.status === 401 && response.headers.get("X-Shopify-Retry-Invalid-Session-Request") === "1") return send();
    return response;
  };

  async function withAdminParams(href) {
    const url = new URL(href, window.location.href);
    const token = await fetchToken();
    const params = { embedded: "1", hmac: "standin", host: admin.host, locale: "en", session: "standin", shop: admin.shop,
      timestamp: String(Math.floor(Date.now() / 1000)) };
    for (const [key, value] of Object.entries(params)) if (!url.searchParams.has(key)) url.searchParams.set(key, value);
    url.searchParams.set("id_token", token);
    return url.toString();
  }

  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest("a[href], s-link[href]");
    if (!link || event.defaultPrevented || link.target === "_blank" || event.button !== 0) return;
    const href = link.getAttribute("href");
    if (!href || href.startsWith("#") || !sameOrigin(href)) return;
    event.preventDefault();
    withAdminParams(href).then((url) => window.location.assign(url));
  });

  if (window.location.pathname === "/auth/patch-id-token") {
    const reload = new URLSearchParams(window.location.search).get("shopify-reload");
    if (!reload || !sameOrigin(reload)) throw new Error("App Bridge: shopify-reload must be on the app's origin");
    fetchToken().then((token) => {
      const target = new URL(reload, window.location.href);
      target.searchParams.set("id_token", token);
      window.location.replace(target.toString());
    });
  }

  const toasts = [];
  window.shopify = {
    config: { apiKey },
    idToken: fetchToken,
    toast: { show(message) { toasts.push(String(message)); } },
    toasts,
  };
})();
