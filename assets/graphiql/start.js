// Starts GraphiQL on this page. It lives in a file of its own, not inline, so that the
// page's Content-Security-Policy can allow scripts from taskql's origin and nothing else.
'use strict';

// The one <style> element GraphiQL inserts (the scroll lock of its dialogs) takes its
// nonce from this global; the page hands each response's style nonce to this script.
window.__webpack_nonce__ = document.currentScript.nonce;

ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: '/graphql' }),
    defaultEditorToolsVisibility: true,
  }),
);
