// "Notify me about this area": subscribes this browser to Web Push (Push API, with the server's
// VAPID key) and creates an area alert for the kota chosen in the filter (or the whole province).
// Signing in is needed; the token is kept in localStorage ("warga.token"), as the app keeps it.

const ENDPOINT = new URL("../graphql", document.baseURI);
const TOKEN_KEY = "warga.token";
const $ = (id) => document.getElementById(id);

async function gql(query, variables = {}, token = localStorage.getItem(TOKEN_KEY)) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(ENDPOINT, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await res.json();
  if (body.errors && body.errors.length) throw new Error(body.errors.map((e) => e.message).join("; "));
  return body.data;
}

function keyBytes(base64url) {
  const b64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function status(text, state) {
  $("notify-status").textContent = text;
  if (state) $("notify-area").dataset.state = state;
}

/** The area the dashboard shows: its kota filter, or the province. */
async function area() {
  const code = new URLSearchParams(location.search).get("kota") || $("f-kota")?.value || "";
  if (code) {
    const data = await gql("query($c: String) { region(code: $c) { id name } }", { c: code }, null);
    if (data.region) return data.region;
  }
  const data = await gql("{ regions(level: PROVINSI) { id name } }", {}, null);
  return data.regions[0];
}

async function subscribe() {
  if (!localStorage.getItem(TOKEN_KEY)) {
    $("notify-login").hidden = false;
    status("Masuk dulu untuk menerima notifikasi.", "login");
    return;
  }
  status("Menyiapkan notifikasi…", "working");
  try {
    if ((await Notification.requestPermission()) !== "granted") {
      status("Izin notifikasi ditolak oleh peramban.", "denied");
      return;
    }
    const registration = await navigator.serviceWorker.register("sw.js");
    await navigator.serviceWorker.ready;
    const { vapidPublicKey } = await gql("{ vapidPublicKey }");
    const subscription =
      (await registration.pushManager.getSubscription()) ||
      (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(vapidPublicKey) }));
    const json = subscription.toJSON();
    await gql(
      "mutation($input: PushSubscriptionInput!) { registerPushSubscription(input: $input) { id } }",
      { input: { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } } },
    );
    const region = await area();
    await gql("mutation($input: AreaAlertInput!) { createAreaAlert(input: $input) { id } }", {
      input: { regionId: region.id },
    });
    status(`Anda akan diberi tahu tentang laporan baru yang terverifikasi di ${region.name}.`, "on");
  } catch (err) {
    status(`Notifikasi tidak dapat diaktifkan: ${err.message}`, "error");
  }
}

async function login(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const data = await gql(
      "mutation($input: LoginInput!) { login(input: $input) { token } }",
      { input: { login: form.get("login"), password: form.get("password") } },
      null,
    );
    localStorage.setItem(TOKEN_KEY, data.login.token);
    $("notify-login").hidden = true;
    await subscribe();
  } catch (err) {
    status(err.message, "login");
  }
}

if ("serviceWorker" in navigator && "PushManager" in window && "Notification" in window) {
  $("notify-area").hidden = false;
  $("notify-button").addEventListener("click", subscribe);
  $("notify-login").addEventListener("submit", login);
}
