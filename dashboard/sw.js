// The dashboard's service worker: shows Warga's Web Push notifications (the server encrypts
// them for this browser; the browser decrypts before this runs) and opens the report on click.

self.addEventListener("push", (event) => {
  const data = event.data ? event.data.json() : {};
  const options = { body: data.body || "", tag: `warga-${data.reportId || data.id}`, data: { url: data.url } };
  event.waitUntil(self.registration.showNotification(data.title || "Warga", options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  if (event.notification.data && event.notification.data.url) {
    event.waitUntil(self.clients.openWindow(event.notification.data.url));
  }
});
