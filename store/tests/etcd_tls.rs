//! The etcd backend over TLS against a real etcd serving https with client
//! certificates required (`testlab::etcd::EtcdLab::new_tls`, certificates made with
//! openssl for the lab): writes and reads work with the lab's CA and a client
//! certificate; a wrong CA, a missing client certificate and unreadable files fail
//! with errors that say so.

use resources::Kind;
use store::etcd::EtcdStore;
use store::{EtcdTls, Store, StoreError};
use testlab::etcd::EtcdLab;

fn pool() -> resources::Resource {
    let text = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.9.0.0/16}\n";
    resources::load_text(std::path::Path::new("t.yaml"), text)
        .expect("valid pool")
        .remove(0)
}

/// The first request's outcome with `tls` (connecting may succeed lazily).
async fn list_with(lab: &EtcdLab, tls: &EtcdTls) -> Result<usize, StoreError> {
    let s = EtcdStore::connect_with(&[lab.endpoint().to_string()], Some(tls)).await?;
    Ok(s.list(Kind::IpPool).await?.0.len())
}

#[test]
fn https_with_a_client_certificate_works_and_a_wrong_ca_says_so() {
    EtcdLab::new_tls("st-tls").run_client(|lab| async move {
        let t = lab.tls.clone().expect("a TLS lab");
        let good = EtcdTls {
            ca_cert_file: t.ca.clone(),
            client: Some((t.cert.clone(), t.key.clone())),
        };
        let s = EtcdStore::connect_with(&[lab.endpoint().to_string()], Some(&good))
            .await
            .expect("connect over TLS");
        s.create(&pool()).await.expect("create over TLS");
        let (items, _) = s.list(Kind::IpPool).await.expect("list over TLS");
        assert_eq!(items.len(), 1);

        // etcd's certificate does not chain to this CA.
        let wrong = EtcdTls {
            ca_cert_file: t.other_ca.clone(),
            ..good.clone()
        };
        let e = list_with(&lab, &wrong)
            .await
            .expect_err("a wrong CA must fail");
        let msg = e.to_string();
        eprintln!("wrong CA: {msg}");
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        assert!(
            msg.contains("certificate") || msg.contains("UnknownIssuer"),
            "the error names the certificate problem: {msg}"
        );

        // etcd requires a client certificate.
        let anonymous = EtcdTls {
            client: None,
            ..good.clone()
        };
        let e = list_with(&lab, &anonymous)
            .await
            .expect_err("no client certificate must fail");
        eprintln!("no client certificate: {e}");
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");

        // Unreadable and non-PEM files are refused before connecting.
        let missing = EtcdTls {
            ca_cert_file: t.ca.with_file_name("nope.pem"),
            ..good.clone()
        };
        let e = list_with(&lab, &missing)
            .await
            .expect_err("a missing CA file");
        assert!(
            matches!(&e, StoreError::Tls(m) if m.contains("nope.pem") && m.contains("cannot read")),
            "{e:?}"
        );
        let ext = t.ca.with_file_name("client.ext");
        let junk = EtcdTls {
            client: Some((ext, t.key.clone())),
            ..good.clone()
        };
        let e = list_with(&lab, &junk)
            .await
            .expect_err("a non-PEM certificate");
        assert!(
            matches!(&e, StoreError::Tls(m) if m.contains("not a PEM file")),
            "{e:?}"
        );
    });
}
