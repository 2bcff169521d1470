//! Choosing the profile by a channel variable read over AMI (`[profiles] ami_variable`), on
//! real AudioSocket calls to `[server] listen`, against a fake Asterisk manager speaking AMI's
//! text protocol: the dialplan's `Set(AGENT_PROFILE=…)` picks the agent; an unknown name or a
//! channel AMI never announced leaves the call with the default profile.

mod conversation_support;

use conversation_support::*;
use enclave::api::AgentServices;
use enclave::records::Role;
use enclave::sim::{place_call, CallOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A fake manager: after login it announces `VarSet AS_UUID` for each `(channel, uuid)`, and
/// answers `Getvar AGENT_PROFILE` on a channel with its value from `vars`.
async fn fake_ami(calls: Vec<(String, uuid::Uuid, String)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = Arc::new(calls);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let calls = Arc::clone(&calls);
            tokio::spawn(async move {
                let (rd, mut wr) = sock.into_split();
                let mut rd = BufReader::new(rd);
                wr.write_all(b"Asterisk Call Manager/7.0.3\r\n")
                    .await
                    .unwrap();
                loop {
                    let Some(fields) = conversation_support::read_ami_action(&mut rd).await else {
                        return;
                    };
                    let get = |k: &str| {
                        fields
                            .iter()
                            .find(|(f, _)| f.eq_ignore_ascii_case(k))
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    };
                    let id = get("ActionID");
                    let reply = match get("Action").to_ascii_lowercase().as_str() {
                        "login" => {
                            let mut r = format!(
                                "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n\
                                 Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
                            );
                            for (i, (channel, uuid, _)) in calls.iter().enumerate() {
                                r.push_str(&format!(
                                    "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: {channel}\r\n\
                                     Uniqueid: 1763712000.{i}\r\nVariable: AS_UUID\r\nValue: {uuid}\r\n\r\n"
                                ));
                            }
                            r
                        }
                        "getvar" => {
                            let channel = get("Channel");
                            match calls.iter().find(|(c, _, _)| *c == channel) {
                                Some((_, _, value)) if get("Variable") == "AGENT_PROFILE" => format!(
                                    "Response: Success\r\nActionID: {id}\r\nVariable: AGENT_PROFILE\r\nValue: {value}\r\n\r\n"
                                ),
                                _ => format!(
                                    "Response: Error\r\nActionID: {id}\r\nMessage: No such channel\r\n\r\n"
                                ),
                            }
                        }
                        "ping" => format!(
                            "Response: Success\r\nActionID: {id}\r\nPing: Pong\r\nTimestamp: 1763712000.000000\r\n\r\n"
                        ),
                        _ => format!(
                            "Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command\r\n\r\n"
                        ),
                    };
                    if wr.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

async fn greeting_of(db: &std::path::Path, uuid: &uuid::Uuid) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (db2, u) = (db.to_path_buf(), *uuid);
        let call = tokio::task::spawn_blocking(move || read_call(&db2, &u))
            .await
            .unwrap();
        if let Some(t) = call.and_then(|c| c.turns.into_iter().find(|t| t.role == Role::Agent)) {
            return t.text;
        }
        assert!(Instant::now() < deadline, "no greeting recorded for {uuid}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_variable_picks_the_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let (by_var, unknown, unannounced) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    let port = fake_ami(vec![
        ("PJSIP/100-00000001".into(), by_var, "sales".into()),
        ("PJSIP/100-00000002".into(), unknown, "nosuch".into()),
    ])
    .await;
    let profiles = tmp.path().join("profiles.toml");
    std::fs::write(
        &profiles,
        "[profiles.sales]\ngreeting = \"Sales by variable.\"\n",
    )
    .unwrap();
    let extra = format!(
        "{}\n[ami]\nenabled = true\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"enclave\"\n\
         secret = \"s3cret\"\naction_timeout_ms = 1000\n\n[profiles]\nfile = \"{}\"\n\
         ami_variable = \"AGENT_PROFILE\"\nami_wait_ms = 1500\n",
        llm_and_conversation("", "greeting = \"Base greeting.\""),
        profiles.display()
    );
    let agent = start_agent(&config_text(tmp.path(), &extra)).await;
    // Serve the default port through the profile handler, as `agent serve` does.
    let services = AgentServices::start(
        &agent.config,
        agent.stack.as_ref().unwrap(),
        Arc::clone(&agent.metrics),
        agent.services.child_token(),
    )
    .await
    .unwrap();
    let server = enclave::transport::Server::bind(agent.config.server.clone())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let served = tokio::spawn(server.run(Arc::clone(&services.handler), stop.clone()));
    for uuid in [by_var, unknown, unannounced] {
        let mut opts = CallOptions::new(addr);
        opts.uuid = Some(uuid);
        opts.audio = Some((silence(2.5), 16_000));
        opts.linger = Duration::from_secs(1);
        place_call(opts).await.expect("call");
    }
    assert_eq!(greeting_of(&agent.db, &by_var).await, "Sales by variable.");
    assert_eq!(greeting_of(&agent.db, &unknown).await, "Base greeting.");
    assert_eq!(greeting_of(&agent.db, &unannounced).await, "Base greeting.");
    stop.cancel();
    let _ = served.await;
    services.shutdown().await;
    agent.stop().await;
}
