//! A generator of realistic rule sets for `demo` and `sandbox --generate`.
//!
//! Rule shapes (names, triggers, nesting, which rules hold which credential) come from a
//! seeded RNG, so a seed names a reproducible site. Token values do not: they come from the
//! system RNG at run time, so no token is predictable from a seed, and none is ever written
//! into this source. About a third of the rules carry a Basic credential of one of a few
//! service accounts, placed at the top level, inside if/else blocks or inside branches,
//! often in a hidden header; some carry Bearer headers, some are disabled.

use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng, SeedableRng as _};
use serde_json::{json, Value};

use super::accounts::{account_id_for, Account};
use crate::secret::{Credential, Token};

const DOMAIN: &str = "sandbox.example";
const SERVICE_ACCOUNTS: [&str; 3] = ["svc-automation", "jira-bot", "integration.ci"];
/// An account whose only token was revoked: rules holding it fail on the real site already.
const DEAD_ACCOUNT: &str = "old-sync";
/// The "Automation for Jira" app user that rules run as.
const AUTOMATION_ACTOR: &str = "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077";

/// `n` rule envelopes and the accounts they use. The first account is a global admin for
/// the rotating client. Each service account has two valid tokens: `tokens[0]` is the one
/// rules embed, `tokens[1]` a fresh one to rotate to.
pub fn generate_rules(n: usize, seed: u64) -> (Vec<Value>, Vec<Account>) {
    let accounts = generated_accounts();
    let mut gen = Generator {
        rng: StdRng::seed_from_u64(seed),
        next_id: 0,
        accounts: &accounts,
        site: format!("{:08x}", seed as u32),
    };
    gen.next_id = gen.rng.gen_range(1_000_000_000u64..9_000_000_000);
    let rules = (0..n).map(|i| gen.envelope(i)).collect();
    (rules, accounts)
}

fn account(local: &str, admin: bool, tokens: usize, revoked: usize) -> Account {
    let email = format!("{local}@{DOMAIN}");
    Account {
        account_id: account_id_for(&email),
        email,
        admin,
        tokens: (0..tokens).map(|_| fresh_token()).collect(),
        revoked_tokens: (0..revoked).map(|_| fresh_token()).collect(),
    }
}

fn generated_accounts() -> Vec<Account> {
    let mut accounts = vec![account("site-admin", true, 1, 0)];
    accounts.extend(
        SERVICE_ACCOUNTS
            .iter()
            .map(|name| account(name, false, 2, 0)),
    );
    accounts.push(account(DEAD_ACCOUNT, false, 0, 1));
    accounts
}

/// A token shaped like a current Atlassian API token, drawn from the system RNG.
fn fresh_token() -> Token {
    let mut rng = rand::thread_rng();
    let body: String = (&mut rng)
        .sample_iter(Alphanumeric)
        .take(180)
        .map(char::from)
        .collect();
    Token::new(format!("ATATT3xFfGF0{body}={:08X}", rng.gen::<u32>()))
}

struct Generator<'a> {
    rng: StdRng,
    next_id: u64,
    accounts: &'a [Account],
    site: String,
}

const VERBS: [&str; 8] = [
    "Sync", "Notify", "Escalate", "Triage", "Close", "Label", "Mirror", "Assign",
];
const OBJECTS: [&str; 8] = [
    "bugs to CRM",
    "stale tickets",
    "P1 incidents",
    "new requests",
    "sub-tasks on resolve",
    "security issues",
    "releases to status page",
    "VIP customer issues",
];

impl Generator<'_> {
    fn id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn envelope(&mut self, i: usize) -> Value {
        let uuid = uuid::Builder::from_random_bytes(self.rng.gen()).into_uuid();
        let name = format!(
            "{} {} ({})",
            VERBS.choose(&mut self.rng).copied().unwrap_or("Sync"),
            OBJECTS.choose(&mut self.rng).copied().unwrap_or("issues"),
            i + 1
        );
        let created = self.rng.gen_range(1_704_067_200_000u64..1_740_000_000_000) as f64 / 1000.0;
        let updated = created + self.rng.gen_range(0..30_000_000u64) as f64 / 1000.0;
        let state = if self.chance(0.15) {
            "DISABLED"
        } else {
            "ENABLED"
        };
        let trigger = self.trigger();
        let components = self.components();
        let project = self.rng.gen_range(10_000..10_040);
        json!({
            "rule": {
                "uuid": uuid.to_string(),
                "name": name,
                "description": "",
                "state": state,
                "trigger": trigger,
                "components": components,
                "ruleScopeARIs": [format!("ari:cloud:jira:{}:project/{project}", self.site)],
                "labels": if self.chance(0.3) { json!(["integration"]) } else { json!([]) },
                "authorAccountId": self.accounts[0].account_id,
                "actor": {"type": "ACCOUNT_ID", "actor": AUTOMATION_ACTOR},
                "writeAccessType": "UNRESTRICTED",
                "collaborators": [],
                "notifyOnError": "FIRSTERROR",
                "canOtherRuleTrigger": false,
                "created": created,
                "updated": updated,
            },
            "connections": [],
        })
    }

    fn component(
        &mut self,
        kind: &str,
        ty: &str,
        value: Value,
        children: Vec<Value>,
        conditions: Vec<Value>,
    ) -> Value {
        json!({
            "id": self.id(),
            "component": kind,
            "type": ty,
            "schemaVersion": 1,
            "value": value,
            "children": children,
            "conditions": conditions,
            "connectionId": null,
        })
    }

    fn trigger(&mut self) -> Value {
        let (ty, value) = match self.rng.gen_range(0..10) {
            0 => {
                let hook: String = (&mut self.rng)
                    .sample_iter(Alphanumeric)
                    .take(40)
                    .map(char::from)
                    .collect();
                let value = json!({"webhookToken": hook, "issueSelection": "NONE"});
                ("jira.incoming.webhook", value)
            }
            1 | 2 => (
                "jira.jql.scheduled",
                json!({"schedule": {"rate": 1, "interval": "DAYS"}, "jql": "status = Waiting"}),
            ),
            3 => ("jira.manual.trigger.issue", json!({"groups": []})),
            _ => (
                "jira.issue.event.trigger:created",
                json!({"eventKey": "jira:issue_created", "issueEvent": "issue_created"}),
            ),
        };
        self.component("TRIGGER", ty, value, vec![], vec![])
    }

    /// Top-level components; with the configured odds one of them (at some depth) holds a
    /// Basic credential, and another may hold a Bearer token.
    fn components(&mut self) -> Vec<Value> {
        let mut out: Vec<Value> = (0..self.rng.gen_range(1..4))
            .map(|_| self.plain_action())
            .collect();
        if self.chance(0.35) {
            let auth = self.basic_header();
            let request = self.web_request(auth);
            let placed = match self.rng.gen_range(0..3) {
                0 => request,
                1 => self.if_else(request),
                _ => self.branch(request),
            };
            let at = self.rng.gen_range(0..=out.len());
            out.insert(at, placed);
        }
        if self.chance(0.1) {
            let token: String = rand::thread_rng()
                .sample_iter(Alphanumeric)
                .take(48)
                .map(char::from)
                .collect();
            let header = json!({"id": self.id(), "name": "Authorization", "value": format!("Bearer {token}"), "headerSecure": self.chance(0.5)});
            let request = self.web_request(header);
            out.push(request);
        }
        out
    }

    fn basic_header(&mut self) -> Value {
        let dead = self.chance(0.1);
        let account = match dead {
            true => self
                .accounts
                .iter()
                .find(|a| a.email.starts_with(DEAD_ACCOUNT)),
            false => self.accounts[1..=SERVICE_ACCOUNTS.len()].choose(&mut self.rng),
        };
        let token = account.and_then(|a| a.tokens.first().or(a.revoked_tokens.first()));
        let basic = match (account, token) {
            (Some(a), Some(t)) => Credential::new(a.email.clone(), t.clone()).basic_value(),
            _ => String::new(),
        };
        json!({"id": self.id(), "name": "Authorization", "value": format!("Basic {basic}"), "headerSecure": self.chance(0.4)})
    }

    fn web_request(&mut self, auth: Value) -> Value {
        let url = [
            "{{baseUrl}}/rest/api/3/issue/{{issue.key}}/comment",
            "https://hooks.partner.example/jira",
            "{{baseUrl}}/rest/api/3/issue/{{issue.key}}/transitions",
        ]
        .choose(&mut self.rng)
        .copied()
        .unwrap_or_default();
        let content_type = json!({"id": self.id(), "name": "Content-Type", "value": "application/json", "headerSecure": false});
        let value = json!({
            "url": url,
            "method": "POST",
            "headers": [content_type, auth],
            "sendIssue": false,
            "contentType": "custom",
            "customBody": "{\"body\": \"Updated by automation for {{issue.key}}\"}",
            "responseEnabled": self.chance(0.3),
            "continueOnErrorEnabled": false,
        });
        self.component(
            "ACTION",
            "jira.issue.outgoing.webhook",
            value,
            vec![],
            vec![],
        )
    }

    fn plain_action(&mut self) -> Value {
        match self.rng.gen_range(0..3) {
            0 => self.component("ACTION", "jira.issue.comment", json!({"comment": "Thanks, we are on it.", "publicComment": true}), vec![], vec![]),
            1 => self.component("ACTION", "jira.issue.edit", json!({"operations": [{"field": {"type": "NAME", "value": "labels"}, "type": "ADD", "value": ["triaged"]}]}), vec![], vec![]),
            _ => self.component("ACTION", "codebarrel.action.log", json!("Rule ran for {{issue.key}}"), vec![], vec![]),
        }
    }

    fn if_else(&mut self, inner: Value) -> Value {
        let condition = self.component("CONDITION", "jira.issue.condition", json!({"selectedField": {"type": "ID", "value": "priority"}, "comparison": "EQUALS", "compareValue": {"type": "NAME", "value": "Highest"}}), vec![], vec![]);
        let if_block = self.component(
            "CONDITION_BLOCK",
            "jira.condition.if.block",
            json!({"conditionMatchType": "ALL"}),
            vec![inner],
            vec![condition],
        );
        let fallback = self.plain_action();
        let else_block = self.component(
            "CONDITION_BLOCK",
            "jira.condition.if.block",
            json!({"conditionMatchType": "ALL"}),
            vec![fallback],
            vec![],
        );
        self.component(
            "CONDITION",
            "jira.condition.container.block",
            Value::Null,
            vec![if_block, else_block],
            vec![],
        )
    }

    fn branch(&mut self, inner: Value) -> Value {
        self.component(
            "BRANCH",
            "jira.issue.related",
            json!({"relatedType": "subtasks"}),
            vec![inner],
            vec![],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_shapes_and_a_share_hold_credentials() {
        let (a, accounts) = generate_rules(60, 3);
        let (b, _) = generate_rules(60, 3);
        let names = |rules: &[Value]| {
            rules
                .iter()
                .map(|r| r["rule"]["name"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&a), names(&b));
        let with_basic = a
            .iter()
            .filter(|r| r.to_string().contains("Basic "))
            .count();
        assert!((10..=35).contains(&with_basic), "{with_basic} of 60");
        assert!(accounts[0].admin && accounts.iter().any(|a| !a.revoked_tokens.is_empty()));
    }
}
