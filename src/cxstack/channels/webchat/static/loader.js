// cxstack chat widget loader. Embed with:
//   <script src="https://<your cxstack>/widget/v1.js" data-tenant="<public widget key>" async></script>
// Optional: data-user-id and data-user-hash (hex HMAC-SHA256 of the user id keyed with the tenant's
// identity secret, computed on your server) sign a logged-in user in.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) {
    return;
  }
  var options = {
    key: script.getAttribute("data-tenant"),
    userId: script.getAttribute("data-user-id"),
    userHash: script.getAttribute("data-user-hash"),
    open: script.getAttribute("data-open") === "true",
    base: new URL("/", script.src).href,
  };
  import(new URL("v1/widget.js", script.src).href)
    .then(function (widget) {
      window.cxstackChat = widget.mount(options);
    })
    .catch(function (error) {
      console.error("cxstack chat widget failed to load", error);
    });
})();
