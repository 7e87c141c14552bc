//! Subprotocol negotiation on `/graphql/ws`: the socket speaks exactly the subprotocol its
//! handshake names, whatever order the client offers them in.

use serde_json::json;

use crate::helpers::{Socket, TRANSPORT_WS, bearer, spawn_app};

#[tokio::test]
async fn a_client_offering_both_subprotocols_is_served_the_one_the_handshake_names() {
    let app = spawn_app().await;
    let user = app.user("alice").await;
    for offer in [
        "graphql-ws, graphql-transport-ws",
        "graphql-transport-ws, graphql-ws",
    ] {
        // The offer replaces the single protocol `connect_with` would ask for; it still
        // asserts that the handshake named graphql-transport-ws.
        let mut socket =
            Socket::connect_with(&app, TRANSPORT_WS, &[("Sec-WebSocket-Protocol", offer)]).await;
        socket.init(bearer(&user.token)).await;
        assert_eq!(socket.receive().await["type"], "connection_ack", "{offer}");
        // Only graphql-transport-ws has `subscribe`, and answers it with `next`.
        socket
            .subscribe(
                "1",
                json!({ "query": "subscription { taskEvents { nonsense } }" }),
            )
            .await;
        let answer = socket.receive().await;
        assert_eq!(answer["type"], "next", "{offer}: {answer}");
        assert_eq!(answer["id"], "1", "{offer}");
    }
}
