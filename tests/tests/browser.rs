//! The thin path in a real browser: Debian's headless Chromium through chromedriver loads the UI
//! served by the real `fleetcompat serve`, lists the hosts, and shows a verdict with its reasons.

use std::time::Duration;

use e2e::{ChromeDriver, Server, artifacts_dir};
use fantoccini::{ClientBuilder, Locator};

async fn wait_for_count(
    client: &fantoccini::Client,
    css: &str,
    at_least: usize,
) -> Result<usize, String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n = client
            .find_all(Locator::Css(css))
            .await
            .map_err(|e| e.to_string())?
            .len();
        if n >= at_least {
            return Ok(n);
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "found {n} of at least {at_least} '{css}' within 30 s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_lists_hosts_and_shows_a_verdict() {
    let (server, driver, args) = tokio::task::spawn_blocking(|| {
        let server = Server::start(true);
        let out = server.collector_post("e2e-browser-host");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (driver, args) = ChromeDriver::start();
        (server, driver, args)
    })
    .await
    .expect("setup");

    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": args, "binary": "/usr/bin/chromium" }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("connect to chromedriver");

    let result = async {
        client.goto(&server.url).await.map_err(|e| e.to_string())?;
        let n_rows = wait_for_count(&client, "#host-list tr.host-row", 150).await?;
        let page = client.source().await.map_err(|e| e.to_string())?;
        if !page.contains("e2e-browser-host") {
            return Err("this machine's host is not in the list".into());
        }
        // Pick a pair the demo fleet knows to be incompatible (TSX removed by microcode).
        client
            .find(Locator::Css(
                "tr[data-host-id='fra-sky-01-01'] button.pick-from",
            ))
            .await
            .map_err(|e| e.to_string())?
            .click()
            .await
            .map_err(|e| e.to_string())?;
        client
            .find(Locator::Css(
                "tr[data-host-id='fra-sky-02-01'] button.pick-to",
            ))
            .await
            .map_err(|e| e.to_string())?
            .click()
            .await
            .map_err(|e| e.to_string())?;
        wait_for_count(&client, "#verdict li.reason.blocker", 1).await?;
        let headline = client
            .find(Locator::Css("#verdict .headline"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let reasons = client
            .find(Locator::Css("#verdict ul.reasons"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        client
            .execute("window.scrollTo(0, 0);", vec![])
            .await
            .map_err(|e| e.to_string())?;
        let png = client.screenshot().await.map_err(|e| e.to_string())?;
        std::fs::write(artifacts_dir().join("thin-path-verdict.png"), png)
            .map_err(|e| e.to_string())?;
        // The pair page is reachable from the fleet page and has a URL of its own.
        client
            .find(Locator::LinkText(
                "open the pair page (both directions, shareable)",
            ))
            .await
            .map_err(|e| e.to_string())?
            .click()
            .await
            .map_err(|e| e.to_string())?;
        wait_for_count(&client, "#forward li.reason.blocker", 1).await?;
        let url = client.current_url().await.map_err(|e| e.to_string())?;
        if !url.path().starts_with("/pair/fra-sky-01-01/fra-sky-02-01") {
            return Err(format!("pair page is at {url}"));
        }
        let back = client
            .find(Locator::Css("#backward-headline"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        if !back.starts_with("Compatible") {
            return Err(format!("the other way should be compatible: {back}"));
        }
        let png = client.screenshot().await.map_err(|e| e.to_string())?;
        std::fs::write(artifacts_dir().join("pair-page.png"), png).map_err(|e| e.to_string())?;
        // A host page loaded straight from its URL.
        client
            .goto(&format!("{}/hosts/fra-sky-02-01", server.url))
            .await
            .map_err(|e| e.to_string())?;
        wait_for_count(&client, "#guest-features code.feature", 50).await?;
        let guest = client
            .find(Locator::Id("guest-features"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        if guest.contains("rtm") {
            return Err("the TSX-less host offers rtm".into());
        }
        let png = client.screenshot().await.map_err(|e| e.to_string())?;
        std::fs::write(artifacts_dir().join("host-page.png"), png).map_err(|e| e.to_string())?;
        Ok::<_, String>((n_rows, headline, reasons))
    }
    .await;
    let _ = client.close().await;
    let (n_rows, headline, reasons) = result.expect("browser steps");
    assert!(n_rows > 150, "{n_rows} rows");
    assert!(headline.starts_with("Blocked by"), "{headline}");
    assert!(
        reasons.contains("rtm") && reasons.contains("hle"),
        "{reasons}"
    );
}
