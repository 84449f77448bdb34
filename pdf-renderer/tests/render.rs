//! The renderer seen from outside: PDFs that poppler opens, one page per ticket, the text
//! layer in the requested language, each page's QR code decoding to that ticket's payload,
//! and ticket data that can never act as typst markup.

use chrono::{TimeZone, Utc};
use pdf_renderer::document::{SheetLeg, SheetSeat};
use pdf_renderer::{qr_payload, Renderer, TicketDocument, TicketSheet};
use td_domain::Language;
use td_testkit::pdf::{fonts, page_count, page_qr_codes, page_texts, title};

fn sheet(n: usize, traveller: &str) -> TicketSheet {
    let id = format!("00000000-0000-4000-8000-00000000000{n}");
    TicketSheet {
        qr_payload: qr_payload(
            &id,
            "ORDER-1",
            Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap(),
        ),
        ticket_id: id,
        operator: "Vy".into(),
        product: "Enkeltbillett".into(),
        traveller: traveller.into(),
        user_profile: "Adult".into(),
        from: "Oslo S".into(),
        to: "Bergen stasjon".into(),
        zones: String::new(),
        valid_from: "01.12.2026 kl. 08:00".into(),
        valid_to: "01.12.2026 kl. 15:00".into(),
        supplements: "Bicycle".into(),
        legs: vec![SheetLeg {
            mode: "rail".into(),
            from: "NSR:StopPlace:337".into(),
            to: "NSR:StopPlace:548".into(),
            departure: "01.12.2026 kl. 08:00".into(),
            arrival: "01.12.2026 kl. 15:00".into(),
        }],
        seats: vec![SheetSeat {
            railcar: "4".into(),
            seat: "57".into(),
        }],
    }
}

fn doc(language: Language, travellers: &[&str]) -> TicketDocument {
    TicketDocument {
        language,
        order_id: "ORDER-1".into(),
        tickets: travellers
            .iter()
            .enumerate()
            .map(|(i, t)| sheet(i, t))
            .collect(),
    }
}

/// Text as pdftotext gives it, with line breaks and runs of spaces folded.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn one_page_per_ticket_with_its_own_qr_code_and_text() {
    let renderer = Renderer::new();
    let d = doc(
        Language::Eng,
        &["Kari Nordmann", "Ola Nordmann", "Per Hansen"],
    );
    let pdf = renderer.render(&d).expect("renders");
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(page_count(&pdf), 3);
    let texts = page_texts(&pdf);
    let codes = page_qr_codes(&pdf);
    assert_eq!(texts.len(), 3);
    assert_eq!(codes.len(), 3);
    for (i, t) in d.tickets.iter().enumerate() {
        let text = flat(&texts[i]);
        assert!(text.contains(&t.traveller), "page {i}: {text}");
        assert!(
            text.contains("Oslo S") && text.contains("Bergen stasjon"),
            "{text}"
        );
        assert!(text.contains(&t.ticket_id), "page {i}: {text}");
        assert!(
            text.contains(&format!("Page {} of 3", i + 1)),
            "page {i}: {text}"
        );
        assert!(
            text.contains("Traveller") && text.contains("Valid until"),
            "{text}"
        );
        assert_eq!(codes[i], vec![t.qr_payload.clone()], "page {i}");
        let payload: serde_json::Value = serde_json::from_str(&codes[i][0]).unwrap();
        assert_eq!(payload["td"], t.ticket_id.as_str());
    }
}

#[test]
fn a_latin_document_embeds_one_font_subset_and_its_heavier_text_stays_text() {
    let pdf = Renderer::new()
        .render(&doc(Language::Nob, &["Kari Nordmann", "Máret Čuđet"]))
        .unwrap();
    // The product name and the headings are drawn heavier with the regular face, so the
    // whole document carries one font, subset to its glyphs.
    assert_eq!(fonts(&pdf), vec![("NotoSans-Regular".to_owned(), true)]);
    for text in page_texts(&pdf) {
        let text = flat(&text);
        for heavy in ["Enkeltbillett", "Reiserute", "Sitteplass"] {
            assert!(text.contains(heavy), "{heavy} missing in {text}");
        }
    }
}

#[test]
fn labels_and_title_follow_the_language() {
    let renderer = Renderer::new();
    for (language, expected, document_title) in [
        (
            Language::Nob,
            ["Reisende", "Gyldig til", "Sitteplass"],
            "Billett ORDER-1",
        ),
        (
            Language::Nno,
            ["Reisande", "Gyldig til", "Sitjeplass"],
            "Billett ORDER-1",
        ),
        (
            Language::Eng,
            ["Traveller", "Valid until", "Seats"],
            "Ticket ORDER-1",
        ),
    ] {
        let pdf = renderer.render(&doc(language, &["Kari", "Ola"])).unwrap();
        assert_eq!(title(&pdf).as_deref(), Some(document_title), "{language}");
        let text = flat(&page_texts(&pdf)[0]);
        for label in expected {
            assert!(
                text.contains(label),
                "{language}: {label} missing in {text}"
            );
        }
    }
}

#[test]
fn ticket_data_is_shown_literally_never_evaluated() {
    let renderer = Renderer::new();
    let hostile = [
        "#panic(\"x\")",
        "] #set page(width: 1cm) [",
        "$x$ and *bold* and _em_",
        "<script>alert(1)</script>",
        "Máret Ánde Čuđet Ŋ",
        "山田太郎",
        "Ride 🚆 🎫",
        "\\ #{1+1} @label `raw`",
    ];
    let pdf = renderer
        .render(&doc(Language::Nob, &hostile))
        .expect("hostile data still renders");
    assert_eq!(page_count(&pdf), hostile.len());
    let texts = page_texts(&pdf);
    for (i, name) in hostile.iter().enumerate() {
        let text = flat(&texts[i]);
        assert!(
            text.contains(&flat(name)),
            "page {i}: {name:?} not found literally in {text:?}"
        );
    }
    // A sheet that had evaluated `#{1+1}` would show 2 instead.
    assert!(flat(&texts[7]).contains("#{1+1}"));
}

#[test]
fn an_empty_document_is_refused() {
    let err = Renderer::new()
        .render(&doc(Language::Eng, &[]))
        .unwrap_err();
    assert!(err.to_string().contains("at least one ticket"));
}

#[test]
fn renders_concurrently_from_several_threads() {
    let renderer = Renderer::new();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let r = renderer.clone();
            std::thread::spawn(move || {
                let name = format!("Traveller {i}");
                let pdf = r.render(&doc(Language::Eng, &[name.as_str()])).unwrap();
                (name, pdf)
            })
        })
        .collect();
    for h in handles {
        let (name, pdf) = h.join().unwrap();
        assert!(flat(&page_texts(&pdf)[0]).contains(&name));
    }
}
