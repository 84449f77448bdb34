use super::*;
use chrono::TimeZone;

use TdEvent as E;
use TdStatus as S;

/// Every transition the lifecycle allows; everything else must be refused.
const ALLOWED: [(TdStatus, TdEvent, TdStatus); 19] = [
    (S::Generated, E::Distributed, S::Distributed),
    (S::Generated, E::Failed, S::Failed),
    (S::Failed, E::Distributed, S::Distributed),
    (S::Distributed, E::PickedUp, S::PickedUp),
    (S::Distributed, E::Activated, S::Activated),
    (S::PickedUp, E::Activated, S::Activated),
    (S::Generated, E::Cancelled, S::Cancelled),
    (S::Distributed, E::Cancelled, S::Cancelled),
    (S::PickedUp, E::Cancelled, S::Cancelled),
    (S::Activated, E::Cancelled, S::Cancelled),
    (S::Failed, E::Cancelled, S::Cancelled),
    (
        S::Distributed,
        E::CancelledExternally,
        S::CancelledExternally,
    ),
    (S::PickedUp, E::CancelledExternally, S::CancelledExternally),
    (S::Activated, E::CancelledExternally, S::CancelledExternally),
    (S::Generated, E::Expired, S::Expired),
    (S::Distributed, E::Expired, S::Expired),
    (S::PickedUp, E::Expired, S::Expired),
    (S::Activated, E::Expired, S::Expired),
    (S::Failed, E::Expired, S::Expired),
];

#[test]
fn every_status_and_event_pair_is_allowed_exactly_as_the_lifecycle_says() {
    let mut checked = 0;
    for from in TdStatus::ALL {
        for event in TdEvent::ALL {
            let expected = ALLOWED
                .iter()
                .find(|(f, e, _)| *f == from && *e == event)
                .map(|(_, _, to)| *to);
            match expected {
                Some(to) => assert_eq!(from.apply(event), Ok(to), "{from} + {event:?}"),
                None => assert_eq!(
                    from.apply(event),
                    Err(RefusedTransition { from, event }),
                    "{from} + {event:?} must be refused"
                ),
            }
            assert_eq!(from.accepts(event), expected.is_some());
            checked += 1;
        }
    }
    assert_eq!(checked, 8 * 7);
}

#[test]
fn repeating_the_event_that_led_to_a_status_is_refused() {
    for (from, event) in [
        (S::Distributed, E::Distributed),
        (S::Failed, E::Failed),
        (S::PickedUp, E::PickedUp),
        (S::Activated, E::Activated),
        (S::Cancelled, E::Cancelled),
        (S::CancelledExternally, E::CancelledExternally),
        (S::Expired, E::Expired),
    ] {
        assert!(from.apply(event).is_err(), "{from} + {event:?}");
    }
}

#[test]
fn terminal_statuses_accept_no_event() {
    for status in TdStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
        for event in TdEvent::ALL {
            assert!(status.apply(event).is_err(), "{status} + {event:?}");
        }
    }
}

#[test]
fn live_terminal_and_failed_partition_the_statuses() {
    let live: Vec<_> = TdStatus::ALL.into_iter().filter(|s| s.is_live()).collect();
    let terminal: Vec<_> = TdStatus::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
    assert_eq!(
        live,
        [S::Generated, S::Distributed, S::PickedUp, S::Activated]
    );
    assert_eq!(terminal, [S::Cancelled, S::CancelledExternally, S::Expired]);
    assert!(!S::Failed.is_live() && !S::Failed.is_terminal());
}

#[test]
fn refused_transition_names_status_and_event() {
    let err = S::Cancelled.apply(E::PickedUp).unwrap_err();
    assert_eq!(
        err.to_string(),
        "transition refused: PickedUp is not allowed in status Cancelled"
    );
}

#[test]
fn status_strings_round_trip_and_match_serde() {
    for status in TdStatus::ALL {
        assert_eq!(status.as_str().parse::<TdStatus>(), Ok(status));
        assert_eq!(status.to_string(), status.as_str());
        assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
    }
    assert_eq!(S::PickedUp.as_str(), "PICKED_UP");
    assert_eq!(S::CancelledExternally.as_str(), "CANCELLED_EXTERNALLY");
}

#[test]
fn unknown_status_string_is_an_error_naming_the_value() {
    let err = "picked_up".parse::<TdStatus>().unwrap_err();
    assert_eq!(err.value, "picked_up");
    assert_eq!(
        err.to_string(),
        r#"unknown ticket distribution status "picked_up""#
    );
}

#[test]
fn cancel_cause_strings_round_trip_and_match_serde() {
    for cause in CancelCause::ALL {
        assert_eq!(cause.as_str().parse::<CancelCause>(), Ok(cause));
        assert_eq!(serde_json::to_value(cause).unwrap(), cause.as_str());
    }
    assert_eq!(
        CancelCause::SupersededByOrderVersion.as_str(),
        "SUPERSEDED_BY_ORDER_VERSION"
    );
    let err = "CREDITED".parse::<CancelCause>().unwrap_err();
    assert_eq!(err.to_string(), r#"unknown cancel cause "CREDITED""#);
}

#[test]
fn invalid_reason_strings_round_trip_and_match_serde() {
    for reason in InvalidReason::ALL {
        assert_eq!(reason.as_str().parse::<InvalidReason>(), Ok(reason));
        assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
    }
    assert!("VALID".parse::<InvalidReason>().is_err());
}

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 1, hour, 0, 0).unwrap()
}

fn reason_of(
    status: TdStatus,
    cause: Option<CancelCause>,
    latest: bool,
    now_hour: u32,
) -> Option<InvalidReason> {
    let answer = validity(status, cause, latest, at(12), at(now_hour));
    // Every caller asks about a ticket the contract says is not valid.
    assert!(!answer.valid, "{status} must not be valid");
    answer.reason
}

#[test]
fn live_ticket_of_the_latest_version_before_its_end_is_valid() {
    for status in [S::Generated, S::Distributed, S::PickedUp, S::Activated] {
        assert_eq!(
            validity(status, None, true, at(12), at(11)),
            Validity {
                valid: true,
                reason: None
            }
        );
    }
}

#[test]
fn cancelled_because_superseded_says_superseded() {
    let reason = reason_of(
        S::Cancelled,
        Some(CancelCause::SupersededByOrderVersion),
        false,
        11,
    );
    assert_eq!(reason, Some(InvalidReason::SupersededByOrderVersion));
}

#[test]
fn cancelled_for_any_other_cause_says_cancelled() {
    for cause in [
        None,
        Some(CancelCause::LineCredited),
        Some(CancelCause::OrderCancelled),
    ] {
        assert_eq!(
            reason_of(S::Cancelled, cause, true, 11),
            Some(InvalidReason::Cancelled)
        );
        // The status explains more than the version or the clock.
        assert_eq!(
            reason_of(S::Cancelled, cause, false, 13),
            Some(InvalidReason::Cancelled)
        );
    }
}

#[test]
fn cancelled_externally_says_so() {
    assert_eq!(
        reason_of(S::CancelledExternally, None, true, 11),
        Some(InvalidReason::CancelledExternally)
    );
    assert_eq!(
        reason_of(S::CancelledExternally, None, false, 13),
        Some(InvalidReason::CancelledExternally)
    );
}

#[test]
fn expired_status_says_expired_even_before_the_end() {
    assert_eq!(
        reason_of(S::Expired, None, true, 11),
        Some(InvalidReason::Expired)
    );
    assert_eq!(
        reason_of(S::Expired, None, false, 11),
        Some(InvalidReason::Expired)
    );
}

#[test]
fn failed_says_failed() {
    assert_eq!(
        reason_of(S::Failed, None, true, 11),
        Some(InvalidReason::Failed)
    );
    assert_eq!(
        reason_of(S::Failed, None, false, 13),
        Some(InvalidReason::Failed)
    );
}

#[test]
fn live_ticket_outside_the_latest_confirmed_version_is_superseded() {
    assert_eq!(
        reason_of(S::Distributed, None, false, 11),
        Some(InvalidReason::SupersededByOrderVersion)
    );
    // Being superseded explains more than having ended.
    assert_eq!(
        reason_of(S::Distributed, None, false, 13),
        Some(InvalidReason::SupersededByOrderVersion)
    );
}

#[test]
fn live_ticket_is_expired_from_its_end_of_validity_on() {
    assert_eq!(
        reason_of(S::Activated, None, true, 12),
        Some(InvalidReason::Expired)
    );
    assert_eq!(
        reason_of(S::Generated, None, true, 13),
        Some(InvalidReason::Expired)
    );
}

#[test]
fn only_generated_tickets_and_failed_ones_asked_again_need_placing() {
    let placed: Vec<(TdStatus, bool)> = TdStatus::ALL
        .into_iter()
        .flat_map(|s| [(s, false), (s, true)])
        .filter(|(s, asked)| needs_placement(*s, *asked))
        .collect();
    assert_eq!(
        placed,
        [
            (S::Generated, false),
            (S::Generated, true),
            (S::Failed, true)
        ]
    );
}
