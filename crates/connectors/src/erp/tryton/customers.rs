//! Parties: found by e-mail, created with their addresses, addresses matched field by field.

use serde::Deserialize;

use crossdock_model::{Address, Customer};
use serde_json::json;

use super::client::TrytonErp;
use crate::ConnectorError;

#[derive(Debug, Deserialize)]
pub(super) struct PartyOfMechanism {
    pub(super) party: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct NameRow {
    pub(super) name: Option<String>,
}

/// An address as stored on `party.address`, compared field by field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(super) struct AddressFields {
    pub(super) party_name: Option<String>,
    pub(super) street_unstructured: Option<String>,
    pub(super) postal_code: Option<String>,
    pub(super) city: Option<String>,
    pub(super) country: Option<i64>,
    pub(super) subdivision: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AddressRow {
    pub(super) id: i64,
    #[serde(flatten)]
    pub(super) fields: AddressFields,
}

impl TrytonErp {
    // ---- parties --------------------------------------------------------------

    /// The party of an e-mail: the oldest, if a race ever left several.
    pub(super) async fn party_by_email(&self, email: &str) -> Result<Option<i64>, ConnectorError> {
        Ok(self.parties_by_email(email).await?.first().copied())
    }

    /// Every party holding `email`, oldest first.
    async fn parties_by_email(&self, email: &str) -> Result<Vec<i64>, ConnectorError> {
        let rows: Vec<PartyOfMechanism> = self
            .search_read(
                "party.contact_mechanism",
                json!([["type", "=", "email"], ["value", "=", email]]),
                (0, None),
                &["party"],
                None,
            )
            .await?;
        let mut parties: Vec<i64> = rows.into_iter().map(|r| r.party).collect();
        parties.sort_unstable();
        parties.dedup();
        Ok(parties)
    }

    /// After creating `ours` for `email`: if another create of the same
    /// buyer ran at once (another hub, or a run killed after its create),
    /// the oldest party is the buyer's and ours goes. Every racer sees the
    /// same oldest, so all end on one party. Ours was just made and nothing
    /// refers to it, so Tryton lets it be deleted; if it does not, it is
    /// deactivated (out of every later search) and left for a person.
    async fn keep_oldest_party(&self, email: &str, ours: i64) -> Result<i64, ConnectorError> {
        let oldest = match self.parties_by_email(email).await?.first() {
            Some(&oldest) if oldest != ours => oldest,
            _ => return Ok(ours),
        };
        tracing::info!(%email, ours, oldest, "Another upsert created this buyer's party at the same time; keeping the oldest.");
        if let Err(e) = self
            .model("party.party", "delete", &[json!([ours])], None)
            .await
        {
            tracing::warn!(%email, party = ours, error = %e, "Could not delete a duplicate party; deactivating it.");
            self.write("party.party", &[ours], json!({ "active": false }))
                .await?;
        }
        Ok(oldest)
    }

    pub(super) async fn address_fields(
        &self,
        address: &Address,
    ) -> Result<AddressFields, ConnectorError> {
        let street = match address.line2.as_deref().map(str::trim) {
            Some(line2) if !line2.is_empty() => format!("{}\n{line2}", address.line1.trim()),
            _ => address.line1.trim().to_owned(),
        };
        let country = self.country(&address.country).await?;
        let subdivision = match (&address.region, country) {
            (Some(region), Some(_)) if !region.trim().is_empty() => {
                self.subdivision(format!(
                    "{}-{}",
                    address.country.trim().to_ascii_uppercase(),
                    region.trim().to_ascii_uppercase()
                ))
                .await?
            }
            _ => None,
        };
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(AddressFields {
            party_name: text(&address.name),
            street_unstructured: text(&street),
            postal_code: text(&address.postal_code),
            city: text(&address.city),
            country,
            subdivision,
        })
    }

    /// An address of `party` equal to `wanted` (created if none is); with no
    /// address wanted, the party's first address (created empty if it has none).
    pub(super) async fn ensure_address(
        &self,
        party: i64,
        wanted: Option<&Address>,
    ) -> Result<i64, ConnectorError> {
        let existing: Vec<AddressRow> = self
            .search_read(
                "party.address",
                json!([["party", "=", party]]),
                (0, None),
                &[
                    "id",
                    "party_name",
                    "street_unstructured",
                    "postal_code",
                    "city",
                    "country",
                    "subdivision",
                ],
                None,
            )
            .await?;
        let values = match wanted {
            None => {
                if let Some(first) = existing.first() {
                    return Ok(first.id);
                }
                json!({ "party": party })
            }
            Some(address) => {
                let fields = self.address_fields(address).await?;
                if let Some(same) = existing.iter().find(|a| a.fields == fields) {
                    return Ok(same.id);
                }
                json!({
                    "party": party,
                    "party_name": fields.party_name,
                    "street_unstructured": fields.street_unstructured,
                    "postal_code": fields.postal_code,
                    "city": fields.city,
                    "country": fields.country,
                    "subdivision": fields.subdivision,
                })
            }
        };
        self.create("party.address", values).await
    }
}

impl TrytonErp {
    pub(super) async fn upsert_party(&self, customer: &Customer) -> Result<String, ConnectorError> {
        let email = customer.email.trim();
        if email.is_empty() {
            return Err(ConnectorError::rejected("customer without e-mail"));
        }
        let name = customer.name.trim();
        // Two orders of one new buyer at once would both find no party and
        // both create one: in this process they take turns per e-mail.
        let _turn = self.customer_turns.take(email).await;
        if let Some(party) = self.party_by_email(email).await? {
            let current: NameRow = self.read_one("party.party", party, &["name"]).await?;
            if !name.is_empty() && current.name.as_deref() != Some(name) {
                self.write("party.party", &[party], json!({ "name": name }))
                    .await?;
            }
            return Ok(party.to_string());
        }
        let mut mechanisms = vec![json!({ "type": "email", "value": email })];
        if let Some(phone) = customer.phone.as_deref().filter(|p| !p.trim().is_empty()) {
            mechanisms.push(json!({ "type": "phone", "value": phone.trim() }));
        }
        let values = json!({
            "name": if name.is_empty() { email } else { name },
            "contact_mechanisms": [["create", mechanisms]],
        });
        // Creates that run at once can draw the same next party code
        // (Tryton numbers parties from a sequence), and all but one are
        // refused. The winner may have been this very customer, so look
        // again first; otherwise try again a little later. Several buyers
        // can be in one race and the losers race each other again, so one
        // retry is not enough: each waits a little longer every round, and
        // by a different amount per e-mail so the losers do not meet again.
        let mut round: u32 = 0;
        let party = loop {
            match self.create("party.party", values.clone()).await {
                Err(ConnectorError::Rejected { reason })
                    if reason.contains("must be unique") && round < PARTY_CODE_RETRIES =>
                {
                    round += 1;
                    tracing::debug!(%reason, round, "Tryton refused a party code; looking again.");
                    if let Some(party) = self.party_by_email(email).await? {
                        break party;
                    }
                    tokio::time::sleep(party_code_backoff(email, round)).await;
                }
                created => break self.keep_oldest_party(email, created?).await?,
            }
        };
        Ok(party.to_string())
    }
}

/// How many times a create refused for a taken party code is tried again.
const PARTY_CODE_RETRIES: u32 = 8;

/// The wait before round `round` of a party create: growing with the
/// round, spread by the e-mail so two racing buyers come back apart.
fn party_code_backoff(email: &str, round: u32) -> std::time::Duration {
    let spread = email
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 97;
    std::time::Duration::from_millis(25 * u64::from(round) + spread)
}
