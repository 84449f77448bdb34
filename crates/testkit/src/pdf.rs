//! Looking at a PDF the way a person or a scanner would: poppler's `pdfinfo`, `pdffonts`,
//! `pdftotext` and `pdftoppm` (installed by the test script) and a QR decoder on the
//! rasterised pages.

use std::io::Write;
use std::path::Path;
use std::process::Command;

fn with_file<T>(pdf: &[u8], f: impl FnOnce(&Path) -> T) -> T {
    let mut file = tempfile::Builder::new()
        .suffix(".pdf")
        .tempfile()
        .expect("temporary file");
    file.write_all(pdf).expect("write the PDF");
    file.flush().expect("flush the PDF");
    f(file.path())
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} (poppler-utils must be installed): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} refused the PDF: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The value of one field `pdfinfo` prints (`Pages`, `Title`, ...), if it prints it; it
/// fails on a malformed PDF.
fn info_field(pdf: &[u8], field: &str) -> Option<String> {
    let info = with_file(pdf, |p| run(Command::new("pdfinfo").arg(p)));
    String::from_utf8_lossy(&info).lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == field).then(|| value.trim().to_owned())
    })
}

/// The page count `pdfinfo` reads.
pub fn page_count(pdf: &[u8]) -> usize {
    info_field(pdf, "Pages")
        .and_then(|n| n.parse().ok())
        .expect("pdfinfo prints Pages:")
}

/// The document title `pdfinfo` reads (what a PDF viewer shows as the window's title).
pub fn title(pdf: &[u8]) -> Option<String> {
    info_field(pdf, "Title")
}

/// The fonts the PDF embeds, as `pdffonts` lists them: each one's name without its subset
/// tag (`ABCDEF+NotoSans-Regular` becomes `NotoSans-Regular`) and whether it is a subset.
pub fn fonts(pdf: &[u8]) -> Vec<(String, bool)> {
    let listing = with_file(pdf, |p| run(Command::new("pdffonts").arg(p)));
    String::from_utf8_lossy(&listing)
        .lines()
        .skip(2) // the header and its rule
        .filter_map(|line| line.split_whitespace().next())
        .map(|name| match name.split_once('+') {
            Some((tag, base)) if tag.len() == 6 => (base.to_owned(), true),
            _ => (name.to_owned(), false),
        })
        .collect()
}

/// The text layer of each page, as `pdftotext` extracts it.
pub fn page_texts(pdf: &[u8]) -> Vec<String> {
    let text = with_file(pdf, |p| {
        run(Command::new("pdftotext")
            .arg("-enc")
            .arg("UTF-8")
            .arg(p)
            .arg("-"))
    });
    let text = String::from_utf8(text).expect("UTF-8 text");
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

/// The QR codes on each page, decoded from the page rasterised at 150 dpi.
pub fn page_qr_codes(pdf: &[u8]) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let prefix = dir.path().join("page");
    with_file(pdf, |p| {
        run(Command::new("pdftoppm")
            .arg("-r")
            .arg("150")
            .arg("-gray")
            .arg("-png")
            .arg(p)
            .arg(&prefix))
    });
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read the pages")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let img = image::open(file).expect("a PNG page").to_luma8();
            let (w, h) = img.dimensions();
            let mut prepared =
                rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
                    img.get_pixel(x as u32, y as u32).0[0]
                });
            prepared
                .detect_grids()
                .into_iter()
                .filter_map(|g| g.decode().ok().map(|(_, content)| content))
                .collect()
        })
        .collect()
}
