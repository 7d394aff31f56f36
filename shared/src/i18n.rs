//! The one message catalogue: every text a person reads, Japanese first, English second.
//!
//! Words are plain on purpose: many field workers are over 65. `{n}`-style placeholders are
//! filled by [`fill`].

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Lang {
    #[default]
    #[serde(rename = "ja")]
    Ja,
    #[serde(rename = "en")]
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
    pub fn from_code(s: &str) -> Lang {
        if s.starts_with("en") {
            Lang::En
        } else {
            Lang::Ja
        }
    }
}

macro_rules! messages {
    ($($key:ident => $ja:literal, $en:literal;)*) => {
        /// A message of the catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Msg { $($key),* }

        impl Msg {
            pub const ALL: &'static [Msg] = &[$(Msg::$key),*];
            pub fn text(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((Msg::$key, Lang::Ja) => $ja, (Msg::$key, Lang::En) => $en,)*
                }
            }
        }
    };
}

/// Replaces `{name}` in `template` with the matching value.
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in args {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

messages! {
    // Validation (shown next to the field; what was typed is kept).
    Required => "入力してください", "Please fill this in";
    TooLong => "{max}文字以内で入力してください（いま{len}文字）", "Please keep this to {max} characters (now {len})";
    BadDate => "日付が正しくありません（例: 2026-04-01）", "This is not a valid date (e.g. 2026-04-01)";
    RecordUnreadable => "読み取れない記録です（ほかのアプリで書かれた可能性があります）", "This record cannot be read (it may have been written by another app)";
    FutureDate => "未来の日付は入力できません", "The date cannot be in the future";
    TooOld => "日付が古すぎます", "The date is too far in the past";
    BadTime => "時刻が正しくありません（例: 13:30）", "This is not a valid time (e.g. 13:30)";
    NextBeforeDate => "次回の予定は記録の日付より後にしてください", "The next contact must be after this record's date";
    BadYear => "生まれ年が正しくありません", "This birth year is not valid";
    BadPhone => "電話番号は数字とハイフンで入力してください", "Use digits and hyphens for phone numbers";
    BadCount => "0から999までの数を入力してください", "Enter a number from 0 to 999";
    BadPosition => "地図の位置が正しくありません", "The map position is not valid";
    SamePlace => "同じ場所どうしはつなげません", "A place cannot be linked to itself";
    UnknownPlace => "つなぐ場所が見つかりません", "The place to link was not found";
    ChooseOne => "どれか一つを選んでください", "Please choose one";
    FollowupWhat => "何をフォローするか書いてください", "Please write what needs follow-up";
    // Server and sync errors the app shows.
    ErrUnauthorized => "ログインし直してください", "Please log in again";
    ErrForbidden => "この記録を扱う権限がありません", "You do not have permission for this record";
    ErrBadRequest => "送信内容が正しくありません", "The data sent was not valid";
    ErrTooLarge => "送信する量が多すぎます", "Too much data was sent at once";
    ErrServer => "サーバーでエラーが起きました。しばらくしてからもう一度お試しください", "The server had a problem. Please try again later";
    ErrLogin => "IDまたはパスワードが違います", "The ID or password is wrong";
    ErrThrottled => "ログインの失敗が続いたため、しばらくお待ちください", "Too many failed log-ins; please wait a while";
    // 429 `busy` (many sign-ins at once) and 408 `timeout` (the connection was too slow).
    ErrBusy => "サーバーが混み合っています。少し待ってからもう一度お試しください", "The server is busy. Please wait a moment and try again";
    ErrTimeout => "通信が遅いため中断しました。電波のよい所でもう一度お試しください", "The connection was too slow. Please try again where the signal is better";
    ErrOffline => "オフラインです。電波のある所で自動で送信します", "You are offline. It will be sent automatically when you have signal";
    // The app's screens.
    AppName => "みまもり", "Mimamori";
    AppTagline => "地域の見守り・訪問記録", "Community watch-over and visit log";
    LoginTitle => "ログイン", "Log in";
    LoginId => "ログインID", "Login ID";
    Password => "パスワード", "Password";
    LoginButton => "ログインする", "Log in";
    LoggingIn => "ログインしています…", "Logging in…";
    LoginNeedsSignal => "はじめてのログインには電波が必要です", "The first log-in needs a signal";
    Logout => "ログアウト", "Log out";
    Loading => "読み込んでいます…", "Loading…";
    OtherTab => "このアプリは別のタブ（画面）で開いています。そちらを使ってください。", "This app is open in another tab. Please use that one.";
    Online => "オンライン", "Online";
    Offline => "オフライン", "Offline";
    Unsent => "未送信 {n}件", "{n} not sent yet";
    AllSent => "すべて送信済み", "Everything is sent";
    LastSync => "最終同期 {time}", "Last sync {time}";
    NeverSynced => "まだ同期していません", "Not synced yet";
    Syncing => "同期しています…", "Syncing…";
    SyncNow => "今すぐ送る", "Send now";
    Today => "きょうの訪問", "Today's visits";
    NobodyAssigned => "見守りの担当がまだありません。社協にお問い合わせください。", "Nobody is assigned to you yet. Please ask the council office.";
    Overdue => "{n}日すぎています", "{n} days overdue";
    DueToday => "きょうが予定日", "Due today";
    DueOn => "次は {date}", "Next: {date}";
    NoPlan => "随時", "As needed";
    LastContact => "最後に会えた日 {date}", "Last met {date}";
    LastContactShort => "前回 {date}", "Last met {date}";
    NeverMet => "まだ記録がありません", "No records yet";
    NotHomeStreak => "不在が{n}回続いています", "Not at home {n} times in a row";
    Back => "もどる", "Back";
    QuickMetWell => "会えた・元気", "Met, well";
    QuickNotHome => "不在だった", "Not at home";
    DetailedRecord => "くわしく記録する", "Record in detail";
    Saved => "保存しました", "Saved";
    Undo => "取り消す", "Undo";
    SearchPeople => "名前・ふりがなで探す", "Search by name or kana";
    FilterLabel => "しぼりこみ", "Filter";
    FilterAll => "すべて", "All";
    FilterOverdue => "期限切れ", "Overdue";
    FilterByToday => "今日まで", "Due today";
    FilterThisWeek => "今週", "This week";
    FilterNotHome => "不在つづき", "Not at home repeatedly";
    FilterArea => "小学校区", "School district";
    AreaAll => "すべての地区", "All districts";
    PeopleCount => "{n}人", "{n} people";
    PeopleCountOf => "{of}人中 {n}人", "{n} of {of}";
    NoMatch => "見つかりません", "No one matches";
    CorrectRecord => "直す", "Correct";
    CorrectTitle => "記録を直す", "Correct the record";
    WithdrawRecord => "取り下げる", "Withdraw";
    WithdrawConfirm => "この記録を取り下げますか？記録は残りますが、報告と訪問予定には数えません。", "Withdraw this record? It is kept, but no longer counts in reports or the visit plan.";
    WithdrawnBadge => "取り下げ済み", "Withdrawn";
    WithdrawnDone => "取り下げました", "Withdrawn";
    MenuLabel => "メニュー", "Menu";
    DeskTabsLabel => "デスクの画面", "Desk screens";
    Undone => "取り消しました", "Undone";
    FirstSyncWaiting => "サーバーから記録を受け取っています…", "Receiving records from the server…";
    FirstSyncProgress => "記録を受け取っています（{have} / {of}人）", "Receiving records ({have} of {of})";
    SaveFailed => "保存できませんでした。もう一度押してください", "Could not save. Please press again";
    Save => "保存する", "Save";
    Cancel => "やめる", "Cancel";
    RecentVisits => "最近の記録", "Recent records";
    RecentConsultations => "相談の記録", "Consultations";
    EmergencyCard => "緊急連絡先", "Emergency contacts";
    NoContacts => "登録されていません", "None registered";
    Worries => "困りごと", "Worries";
    VisitDate => "日付", "Date";
    VisitTime => "時刻", "Time";
    VisitKindLabel => "方法", "How";
    OutcomeLabel => "結果", "Result";
    ConditionLabel => "体調・様子", "How they seemed";
    Note => "メモ", "Note";
    NeedsFollowup => "フォローが必要", "Needs follow-up";
    FollowupWhatLabel => "何をするか", "What to do";
    ReferralsLabel => "つなぎ先", "Referred to";
    NextContact => "次に会う予定日", "Next planned contact";
    FixErrors => "赤い所を直してください。入力した内容は残っています。", "Please fix the parts in red. What you typed is kept.";
    Settings => "設定", "Settings";
    TextSize => "文字の大きさ", "Text size";
    Language => "言語 / Language", "Language / 言語";
    StorageMayBeCleared => "この端末では保存データが消される可能性があります。ホーム画面に追加してください。", "This browser may clear saved data. Please add the app to your home screen.";
    SessionEnded => "この端末はログアウトされました。未送信の記録は残っています。ログインし直してください。", "This device was logged out. Unsent records are kept. Please log in again.";
    Refused => "送れなかった記録 {n}件（この端末に残っています。社協にご相談ください）", "{n} records could not be sent (they are kept on this phone; please ask the office)";
    UpdateReady => "新しい版があります。押すと更新します", "A new version is ready. Tap to update";
    NotWatchedNow => "いまは見守りを休んでいます（入院・転出など）", "Not watched over now (hospital, moved …)";
    NotOnDevice => "この端末にはまだありません。電波のある所で同期してください", "Not on this device yet. Please sync where there is signal";
    RecordConsultation => "相談を記録する", "Record a consultation";
    Doctor => "かかりつけ", "Family doctor";
    KitAtHome => "救急医療情報キット", "Emergency medical kit";
    EvacuationListed => "避難行動要支援者", "Needs help to evacuate";
    ConsentTitle => "同意", "Consent";
    ConsentWhat => "本人が同意したこと", "What the person agreed to";
    ConsentNone => "同意の記録はまだありません", "No consent recorded yet";
    ConsentDate => "同意した日", "Date of consent";
    ConsentHow => "同意のしかた", "How it was given";
    ConsentNote => "メモ（同意について）", "Note (about the consent)";
    ConsentEdit => "同意を記録する", "Record consent";
    ConsentOn => "{date}・{how}", "{date}, {how}";
    ViewOnly => "この方の記録は見るだけです（書きこむ権利がありません）", "You may only view this record (no right to write)";
    ConsultFieldLabel => "分野", "Field";
    ConsultTopicLabel => "相談の内容", "Topics";
    ConsultSummary => "相談されたこと", "What was asked";
    ConsultAction => "したこと・対応", "What was done";
    Salons => "サロン", "Salons";
    SupportMap => "支え合いマップ", "Support map";
    NoSalons => "担当のサロンはありません", "You have no salons";
    OpenToday => "きょうの開催をひらく", "Open today's session";
    AddMember => "名簿に追加", "Add to the roster";
    OtherDate => "ほかの日", "Another day";
    OpenThisDay => "この日の開催をひらく", "Open this day's session";
    PastSessions => "これまでの開催", "Past sessions";
    SessionLine => "{date} 参加 {n}人・お手伝い {h}人", "{date}: {n} came, {h} helpers";
    NoSessionYet => "この日の開催はまだ記録されていません", "No session recorded for this day yet";
    ConflictTitle => "記録がちがっています", "The records differ";
    ConflictHelp => "二つの端末で別々に記録されました。正しい方を選んでください。", "Two phones recorded different things. Please choose the right one.";
    KeepThis => "「{v}」にする", "Keep “{v}”";
    AttendanceSummary => "出席 {p}人 / 名簿 {n}人・当日参加 {g}人・お手伝い {h}人", "Present {p} of {n}, walk-ins {g}, helpers {h}";
    Present => "出席", "Present";
    Absent => "欠席", "Absent";
    Guests => "当日参加（名簿外）", "Walk-in guests";
    Helpers => "お手伝い（ボランティア）", "Helpers";
    ProgramLabel => "内容（プログラム）", "Programme";
    GuestNames => "当日参加の方の名前（分かれば）", "Walk-in names (if known)";
    HelperNames => "お手伝いの方の名前", "Helpers' names";
    MemberName => "名前", "Name";
    Kana => "ふりがな", "Kana";
    Area => "地区・自治会", "Area";
    MemberNote => "気をつけること（足腰・アレルギー・送迎など）", "Things to note (mobility, allergies, transport)";
    SizeNormal => "ふつう", "Normal";
    SizeLarge => "大きい", "Large";
    SizeHuge => "とても大きい", "Very large";
    LoginWipesUnsent => "前にログインしていた方の未送信の記録が{n}件あります。別の方がログインすると消えます。続けますか？", "The previous user has {n} records not sent yet. They will be deleted if someone else logs in. Continue?";
    PasswordChangeTitle => "パスワードを変える", "Change the password";
    CurrentPassword => "いまのパスワード", "Current password";
    NewPassword => "新しいパスワード（8文字以上）", "New password (8 characters or more)";
    NewPasswordAgain => "新しいパスワード（もう一度）", "New password (again)";
    PasswordTooShort => "8文字以上にしてください", "Please use 8 characters or more";
    PasswordMismatch => "二つの新しいパスワードが違います", "The two new passwords differ";
    PasswordSame => "いまのパスワードと違うものにしてください", "Please choose a password different from the current one";
    PasswordWrong => "いまのパスワードが違います", "The current password is wrong";
    PasswordChangedDone => "パスワードを変えました。ほかの端末はログアウトされました。", "The password was changed. Your other devices were logged out.";
    PasswordNeedsSignal => "パスワードを変えるには電波が必要です", "Changing the password needs a signal";
    ChangeButton => "変更する", "Change";
    DevicesTitle => "ログインしている端末", "Devices logged in";
    ShowDevices => "端末の一覧を見る", "Show the devices";
    ThisDevice => "この端末", "This device";
    LastSeenAt => "最後の接続 {time}", "Last contact {time}";
    SignedOut => "ログアウト済み", "Logged out";
    SignOutDevice => "ログアウトさせる", "Log it out";
    DeviceSignedOut => "その端末をログアウトさせました", "That device was logged out";
    NeedsSignal => "電波のある所でもう一度押してください", "Please try again where there is signal";
    LoginAgain => "ログインし直す", "Log in again";
    // Evacuation roster, disaster mode, audit log.
    RosterTitle => "避難支援の名簿", "Evacuation roster";
    RosterHelp => "避難行動要支援者のうち、自主防災組織との共有に同意した方です。", "People who need help to evacuate and agreed to share with the disaster-prevention group.";
    RosterAsOf => "{time} 時点", "As of {time}";
    RosterEmpty => "名簿に載っている方はいません", "Nobody is on the roster";
    RosterOffline => "電波のある所で一度開くと、電波がなくても見られるようになります", "Open this once where there is signal; after that it works without signal too";
    RosterNoConsent => "同意なし・災害時のため表示", "No consent: shown for the disaster";
    RosterSupport => "必要な支援", "Help needed";
    RosterHelper => "避難支援者", "Evacuation helper";
    RosterShelter => "避難所", "Shelter";
    DisasterActive => "災害モード中（{district}、{time}まで）：同意のない方も表示しています", "Disaster mode ({district}, until {time}): people without consent are shown too";
    DisasterTitle => "災害モード", "Disaster mode";
    DisasterHelp => "災害のとき、地区の避難支援の名簿を、同意のない方も含めて民生委員・自主防災組織に見せます。時間がたつと自動で終わります。すべて記録に残ります。", "In a disaster, shows the district's evacuation roster, including people without consent, to its 民生委員 and disaster-prevention group. It ends by itself after the time chosen; everything is logged.";
    DisasterDistrict => "地区", "District";
    DisasterHours => "続ける時間", "For how long";
    Hours => "{n}時間", "{n} hours";
    DisasterReason => "理由（例: 台風10号 避難指示）", "Reason (e.g. typhoon evacuation order)";
    DisasterStart => "災害モードを始める", "Start disaster mode";
    DisasterConfirm => "{district}で災害モードを始めます。同意のない方の情報も見えるようになります。よろしいですか？", "Start disaster mode in {district}? People without consent become visible too.";
    DisasterStarted => "災害モードを始めました", "Disaster mode started";
    DisasterEnd => "終える", "End it";
    DisasterEnded => "災害モードを終えました", "Disaster mode ended";
    DisasterList => "これまでの災害モード", "Disaster modes";
    DisasterUntil => "{start} から {end} まで・{by}", "{start} to {end}, by {by}";
    DisasterNone => "ありません", "None";
    AuditTitle => "操作の記録（監査ログ）", "Audit log";
    AuditAction => "操作", "Action";
    AuditUser => "だれが", "Who";
    AuditSince => "この日から", "From this day";
    AuditAll => "すべて", "All";
    AuditShow => "表示する", "Show";
    AuditMore => "もっと見る", "Show more";
    AuditEmpty => "記録はありません", "No entries";
    OfficeTools => "事務局の機能", "Office tools";
    UserDevicesTitle => "利用者の端末", "Users' devices";
    NeedsSignal2 => "電波のある所で使ってください", "Please use this where there is signal";
    // The coordinator's desk.
    DeskTitle => "デスク", "Desk";
    DeskOverdue => "見守りが遅れている人", "Overdue watch";
    DeskFollowups => "フォローが必要なこと", "Follow-ups";
    DeskReports => "報告", "Reports";
    DeskPeople => "担当の割り当て", "Assignments";
    DeskImport => "名簿の取り込み", "Import a roster";
    DeskNeedsSignal => "電波のある所で開いてください（この画面はまだ一度も取得していません）", "Open this where there is signal (this screen has not been fetched yet)";
    DeskNoRight => "この画面を使う権利がありません", "You have no right to use this screen";
    DeskStale => "オフラインです。{time} 時点の内容を表示しています", "Offline: showing what was fetched at {time}";
    DeskRefresh => "最新にする", "Refresh";
    CsvUtf8 => "CSV（Excel用）", "CSV (for Excel)";
    CsvSjis => "CSV（Shift_JIS）", "CSV (Shift_JIS)";
    CsvCouncils => "民児協ごとの合計（CSV）", "Totals per council (CSV)";
    CsvSalonTypes => "サロンの種類ごと", "Per salon type";
    Print => "印刷する（A4）", "Print (A4)";
    DeskOverdueCount => "{n}人（{date} 現在）", "{n} people (as of {date})";
    DeskVisitor => "担当", "Visitor";
    DeskNobody => "担当なし", "Nobody assigned";
    DeskName => "氏名", "Name";
    DeskFrequency => "見守りの頻度", "Watch plan";
    DeskLastContact => "最後に会えた日", "Last contact";
    DeskOverdueDays => "遅れ", "Overdue";
    DeskDays => "{n}日", "{n} days";
    DeskLastVisit => "最後の訪問", "Last visit";
    DeskRaised => "日付", "Date";
    DeskAge => "（{n}日前）", "({n} days ago)";
    DeskWhat => "内容・つなぎ先", "What, and referred to";
    DeskOwner => "記録した人", "Recorded by";
    DeskRecordDone => "対応を記録する", "Record what was done";
    DeskDoneNote => "対応した内容", "What was done";
    DeskReportKind => "報告の種類", "Report";
    ReportMinsei => "民生委員 活動記録", "民生委員 activity record";
    ReportSalons => "サロン実績", "Salon report";
    ReportDistricts => "地区別の活動（見える化）", "Activities by district";
    DeskPeriod => "期間", "Period";
    DeskMonth => "月ごと", "Month";
    DeskFiscalYear => "年度（4月〜3月）", "Fiscal year (April–March)";
    DeskMonthLabel => "月", "Month";
    DeskFiscalYearStart => "年度（始まる年、例: 2026）", "Fiscal year (the year it starts, e.g. 2026)";
    DeskWareki => "和暦で書き出す（令和8年4月）", "Export dates in the Japanese era (令和8年4月)";
    DeskCouncils => "民児協ごとの合計", "Totals per council";
    NeedsCorrectionCount => "直してほしい記録（{n}件）", "Records needing correction ({n})";
    NeedsCorrectionHint => "次の記録は読み取れないか、決まりに合いません。直すまで上の数に入っていないことがあります。", "These records cannot be read or break a rule. They may be missing from the figures above until corrected.";
    DeskMembers => "{n}人", "{n} members";
    ColConsultations => "相談・支援", "Consultations";
    ColByField => "分野別", "By field";
    ColVisits => "訪問・連絡", "Visits and contacts";
    ColLiaisonMembers => "連絡調整（委員相互）", "Liaison (members)";
    ColLiaisonAgencies => "連絡調整（関係機関）", "Liaison (agencies)";
    ColDays => "活動日数", "Days active";
    DeskSalon => "サロン", "Salon";
    DeskSalonCount => "{n}か所", "{n} salons";
    ColSessions => "開催回数", "Sessions";
    ColParticipants => "延べ参加者", "Attendance (total)";
    ColDistinct => "実参加者", "Different people";
    ColGuests => "当日参加", "Walk-ins";
    ColHelpers => "ボランティア延べ", "Helpers (total)";
    ColPeople => "見守り対象", "People watched";
    ColSalons => "サロン", "Salons";
    ColReached => "うち会えた", "Of which reached";
    ColFollowupsOpen => "未対応のフォロー", "Open follow-ups";
    DeskAssignTitle => "担当を決める", "Assign a visitor";
    DeskViewOnly => "見るだけ（記録は書かない）", "View only (no writing)";
    DeskAssign => "担当にする", "Assign";
    DeskUnassign => "担当から外す", "Unassign";
    DeskAssigned => "担当にしました", "Assigned";
    DeskUnassigned => "担当から外しました", "Unassigned";
    DeskAssignedCount => "担当{n}人", "{n} assigned";
    DeskMoveTitle => "地区を移す", "Move to another district";
    DeskMoveGrantTitle => "担当者の地区を移す", "Move a visitor to another district";
    DeskMoveTo => "移す先の地区", "Move to";
    DeskMove => "移す", "Move";
    DeskMoved => "地区を移しました", "Moved";
    DeskImportHelp => "Excel で作った名簿を CSV で保存して選んでください（Shift_JIS でも UTF-8 でも読めます）。1行でもまちがいがあると、何も取り込まずに、まちがいのある行を示します。", "Save the roster from Excel as CSV and choose it (Shift_JIS or UTF-8). If any row is wrong, nothing is imported and the wrong rows are listed.";
    DeskColumn => "列", "Column";
    DeskRequired => "必須", "Required";
    DeskChooseFile => "CSV ファイルを選ぶ", "Choose a CSV file";
    DeskImported => "取り込みました", "Imported";
    DeskImportedN => "{n}人を取り込みました（担当の割り当て {a}件）", "{n} people imported ({a} assignments)";
    DeskRow => "行", "Row";
    DeskProblem => "まちがい", "Problem";
    // The app lock (PIN).
    PinSetupTitle => "PIN（暗証番号）を決めます", "Choose a PIN";
    PinSetupHelp => "この端末の記録は暗号化して保存します。開くときにこの PIN を使います。4〜8けたの数字で、1234 や 1111 のような番号は使えません。", "The records on this device are kept encrypted. You open them with this PIN: 4 to 8 digits, not 1234 or 1111.";
    PinLabel => "PIN（4〜8けたの数字）", "PIN (4 to 8 digits)";
    PinAgain => "もう一度 同じ PIN", "The same PIN again";
    PinTooEasy => "4〜8けたの数字で、かんたんすぎない番号にしてください", "Use 4 to 8 digits, not an easy run like 1234 or 1111";
    PinMismatch => "2回目の PIN が1回目とちがいます", "The two PINs differ";
    PinSave => "この PIN にする", "Use this PIN";
    PinWorking => "準備しています…", "Preparing…";
    LockedTitle => "ロック中", "Locked";
    LockedHello => "この端末の記録は鍵がかかっています。PIN を入れてください", "The records on this device are locked. Enter your PIN";
    UnlockButton => "開く", "Open";
    Unlocking => "確認しています…", "Checking…";
    PinWrong => "PIN がちがいます。あと{n}回まちがえると、この端末の記録は消えます。", "Wrong PIN. After {n} more wrong tries the records on this device are deleted.";
    PinLastTry => "次にまちがえると、この端末の記録は消えます（まだ送信していない記録{n}件も消えます）。", "One more wrong PIN deletes the records on this device (including {n} not sent yet).";
    UnlockNeedsSignal => "しばらくサーバーにつながっていないため、電波のある所で開いてください。", "This device has not reached the server for a while: open it where there is signal.";
    ForgotPin => "PIN を忘れた・別の人がログインする", "Forgot the PIN / someone else logs in";
    ForgotPinConfirm => "この端末の記録を消して、ログインからやり直します。まだ送信していない記録が{n}件あります（消えます）。続けますか？", "This deletes the records on this device and starts again from log-in. {n} records are not sent yet and will be lost. Continue?";
    WipedPin => "PIN を何回もまちがえたため、この端末の記録を消しました。ログインしてください。", "Too many wrong PINs: the records on this device were deleted. Please log in.";
    WipedRevoked => "この端末はログアウトされたため、記録を消しました。", "This device was signed out, so its records were deleted.";
    LockNow => "今すぐロックする", "Lock now";
    IdleLock => "さわらないと自動でロックするまで", "Lock automatically after no use for";
    Minutes => "{n}分", "{n} min";
    ChangePin => "PIN を変える", "Change the PIN";
    CurrentPin => "今の PIN", "Current PIN";
    NewPin => "新しい PIN", "New PIN";
    PinChanged => "PIN を変えました", "The PIN was changed";
    PinWrongPlain => "PIN がちがいます", "Wrong PIN";
    DraftRestored => "ロックする前に書いていた内容を戻しました", "What you were writing before the lock is back";
    LogoutLosesUnsent => "まだ送信していない記録が{n}件あります。ログアウトすると消えます。ログアウトしますか？", "{n} records are not sent yet and will be lost. Log out anyway?";
    // 支え合いマップ (support map).
    MapNone => "あなたの地区の支え合いマップはまだありません", "There is no support map for your district yet";
    MapTitleOf => "{name}の支え合いマップ", "Support map: {name}";
    MapArea => "地図（指でずらすと動きます）", "Map (drag to move it)";
    MapZoomIn => "地図を大きくする", "Zoom in";
    MapZoomOut => "地図を小さくする", "Zoom out";
    MapRecenter => "中心に戻る", "Back to the centre";
    MapAddPlace => "場所を追加", "Add a place";
    MapAddLink => "線でつなぐ", "Link two places";
    MapTapToAdd => "地図の、場所を置きたい所を押してください", "Tap the map where the place is";
    MapPickFirst => "つなぐ一つ目の場所を押してください", "Tap the first place to link";
    MapPickSecond => "二つ目の場所を押してください（「{from}」とつなぎます）", "Tap the second place (to link with “{from}”)";
    MapNewPlace => "新しい場所", "New place";
    MapPlaceKind => "種類", "Kind";
    MapPlaceLabel => "名前・目印", "Name or landmark";
    MapNewLink => "新しいつながり", "New link";
    MapLinkKind => "つながりの種類", "Kind of link";
    MapLinkLine => "{from} → {to}（{kind}）", "{from} → {to} ({kind})";
    MapLinks => "つながり", "Links";
    MapNoLinks => "つながりはまだありません", "No links yet";
    MapNotes => "情報交換の記録", "Notes";
    MapNoNotes => "記録はまだありません", "No notes yet";
    MapNoteText => "気づいたこと・話したこと", "What you noticed or talked about";
    MapAddNote => "記録を書く", "Write a note";
    MapClose => "閉じる", "Close";
    MapLegend => "凡例（印の見方）", "Legend";
    MapLegendPlaces => "場所の種類", "Kinds of place";
    MapLegendLinks => "線の種類", "Kinds of link";
    MapPlaceAria => "{label}（{kind}）", "{label} ({kind})";
    MapReadOnly => "このマップは見るだけです（変更の権限がありません）", "You can look at this map but not change it";
    MapNoTiles => "地図の絵を読み込めません。印はそのまま使えます", "The map picture could not be loaded. The markers still work";
    MapSource => "地図：国土地理院（地理院タイル）", "Map: Geospatial Information Authority of Japan";
}

/// Labels of the code lists of [`crate::codes`]: (list, code, 日本語, English).
#[rustfmt::skip]
const CODE_LABELS: &[(&str, &str, &str, &str)] = &[
    ("household", "alone", "独居", "Lives alone"),
    (
        "household",
        "elderly_only",
        "高齢者のみ世帯",
        "Elderly-only household",
    ),
    (
        "household",
        "alone_daytime",
        "日中独居",
        "Alone in the daytime",
    ),
    ("household", "other", "その他", "Other"),
    ("sex", "female", "女性", "Female"),
    ("sex", "male", "男性", "Male"),
    ("sex", "unstated", "回答なし", "Not stated"),
    ("person_status", "active", "見守り中", "Active"),
    ("person_status", "hospitalised", "入院中", "In hospital"),
    (
        "person_status",
        "in_facility",
        "施設に入所",
        "Moved into a facility",
    ),
    ("person_status", "moved_away", "転出", "Moved away"),
    ("person_status", "deceased", "死亡", "Deceased"),
    ("frequency", "weekly", "週1回", "Weekly"),
    ("frequency", "twice_monthly", "月2回", "Twice a month"),
    ("frequency", "monthly", "月1回", "Monthly"),
    ("frequency", "as_needed", "随時", "As needed"),
    ("hours", "6", "6時間", "6 hours"),
    ("hours", "24", "24時間", "24 hours"),
    ("hours", "72", "72時間（3日）", "72 hours (3 days)"),
    ("audit", "login", "ログイン", "Log-in"),
    ("audit", "login_failed", "ログイン失敗", "Failed log-in"),
    ("audit", "login_throttled", "ログインの制限", "Log-in throttled"),
    ("audit", "login_busy", "ログインの混雑で拒否", "Log-in refused: server busy"),
    ("audit", "refusals_not_recorded", "記録しきれなかった拒否の件数", "Refusals counted but not recorded"),
    ("audit", "logout", "ログアウト", "Log-out"),
    ("audit", "device_revoked", "端末をログアウトさせた", "Device signed out"),
    ("audit", "revoked_device_refused", "ログアウト済みの端末を拒否", "Signed-out device refused"),
    ("audit", "password_changed", "パスワード変更", "Password changed"),
    ("audit", "password_change_failed", "パスワード変更の失敗", "Password change failed"),
    ("audit", "permission_change", "権限の変更", "Permission changed"),
    ("audit", "person_read", "職員が記録を見た", "Staff opened a record"),
    ("audit", "roster_read", "名簿を見た", "Roster viewed"),
    ("audit", "disaster_start", "災害モード開始", "Disaster mode started"),
    ("audit", "disaster_end", "災害モード終了", "Disaster mode ended"),
    ("audit", "pin_set", "PIN の設定", "PIN set"),
    ("audit", "unlock", "PIN で開いた（電波あり）", "Unlocked online"),
    ("audit", "unlock_failed", "PIN のまちがい", "Wrong PIN"),
    ("audit", "pin_wipe", "PIN のまちがいで消去", "Wiped after wrong PINs"),
    ("audit", "sync_refused", "権限のない同期を拒否", "Sync refused (no right)"),
    ("audit", "write_refused", "見るだけの記録への書き込みを拒否", "Write to a view-only record refused"),
    ("audit", "sync_missing_deps", "前の変更がない同期を断った（照合で送り直し）", "Sync refused: earlier changes missing (reconciled)"),
    ("audit", "record_refused", "読めない・規則に合わない記録を拒否", "Record refused (unreadable or breaks a rule)"),
    ("audit", "foreign_origin", "ほかのサイトからの要求を拒否", "Request from another site refused"),
    ("audit", "audit_read", "監査ログを見た", "Audit log viewed"),
    ("audit", "export", "書き出し", "Export"),
    ("audit", "report_read", "報告・一覧を見た", "Report viewed"),
    ("audit", "desk_refused", "事務局の画面を断った", "Desk refused"),
    ("audit", "person_moved", "地区を移した", "Person moved to another district"),
    ("audit", "import", "名簿を取り込んだ", "Roster imported"),
    (
        "audit",
        "import_refused",
        "名簿の取り込みを断った（誤りあり）",
        "Roster import refused (broken rows)",
    ),
    ("audit", "doc_created", "記録を作った", "Record created"),
    ("audit", "user_created", "利用者を作った", "User created"),
    ("audit", "user_disabled", "利用者を止めた", "User disabled"),
    ("consent_scope", "visits", "訪問を受けること", "Being visited"),
    ("consent_scope", "share_minsei", "民生委員と共有", "Sharing with the 民生委員"),
    ("consent_scope", "share_bousai", "自主防災組織と共有（避難の名簿）", "Sharing with the disaster-prevention group (evacuation roster)"),
    ("consent_scope", "share_houkatsu", "地域包括支援センターと共有", "Sharing with the community support centre"),
    ("consent_method", "written", "書面", "In writing"),
    ("consent_method", "oral", "口頭", "Spoken"),
    ("visit_kind", "visit", "訪問", "Home visit"),
    ("visit_kind", "phone", "電話", "Phone call"),
    ("visit_kind", "delivery", "配布物お届け", "Delivery"),
    ("visit_kind", "salon", "サロンで会った", "Met at the salon"),
    ("outcome", "met", "会えた", "Met"),
    ("outcome", "not_home", "不在", "Not at home"),
    ("outcome", "family", "家族と話した", "Spoke with family"),
    ("outcome", "refused", "拒否", "Refused"),
    ("condition", "fine", "元気", "Well"),
    ("condition", "usual", "いつも通り", "As usual"),
    ("condition", "concern", "気になる", "Worrying"),
    ("condition", "urgent", "緊急", "Urgent"),
    ("worry", "health", "体調", "Health"),
    ("worry", "memory", "物忘れ", "Memory"),
    ("worry", "meals", "食事", "Meals"),
    ("worry", "housing", "住まい・ごみ", "Home and rubbish"),
    ("worry", "money", "金銭", "Money"),
    ("worry", "family", "家族関係", "Family"),
    ("worry", "isolation", "孤立", "Isolation"),
    ("worry", "shopping", "買い物", "Shopping"),
    ("worry", "hospital", "通院", "Getting to the doctor"),
    (
        "worry",
        "disaster",
        "災害への不安",
        "Worried about disasters",
    ),
    ("worry", "other", "その他", "Other"),
    (
        "referral",
        "houkatsu",
        "地域包括支援センター",
        "Community care centre",
    ),
    ("referral", "city", "市役所", "City office"),
    ("referral", "shakyo", "社協", "Social welfare council"),
    ("referral", "minsei", "民生委員", "Welfare commissioner"),
    ("referral", "family", "家族", "Family"),
    ("referral", "medical", "医療機関", "Doctor or hospital"),
    (
        "referral",
        "police_fire",
        "警察・消防",
        "Police or fire service",
    ),
    (
        "consult_field",
        "elderly",
        "高齢者に関すること",
        "Older people",
    ),
    (
        "consult_field",
        "disabled",
        "障害者に関すること",
        "People with disabilities",
    ),
    (
        "consult_field",
        "children",
        "子どもに関すること",
        "Children",
    ),
    ("consult_field", "other", "その他", "Other"),
    (
        "consult_topic",
        "home_welfare",
        "在宅福祉",
        "Welfare at home",
    ),
    (
        "consult_topic",
        "care_insurance",
        "介護保険",
        "Long-term care insurance",
    ),
    (
        "consult_topic",
        "health",
        "健康・保健医療",
        "Health and medical care",
    ),
    (
        "consult_topic",
        "childcare",
        "子育て・母子保健",
        "Child-rearing and maternal health",
    ),
    (
        "consult_topic",
        "child_life",
        "子どもの地域生活",
        "Children's life in the community",
    ),
    (
        "consult_topic",
        "child_school",
        "子どもの教育・学校生活",
        "Children's education and school",
    ),
    ("consult_topic", "living_costs", "生活費", "Living costs"),
    (
        "consult_topic",
        "pension",
        "年金・保険",
        "Pensions and insurance",
    ),
    ("consult_topic", "work", "仕事", "Work"),
    ("consult_topic", "family", "家族関係", "Family relations"),
    ("consult_topic", "housing", "住居", "Housing"),
    (
        "consult_topic",
        "environment",
        "生活環境",
        "Living environment",
    ),
    (
        "consult_topic",
        "daily_support",
        "日常的な支援",
        "Everyday support",
    ),
    ("consult_topic", "other", "その他", "Other"),
    (
        "activity_kind",
        "visit_contact",
        "訪問・連絡活動",
        "Visits and contact",
    ),
    (
        "activity_kind",
        "survey",
        "調査・実態把握",
        "Surveys and fact-finding",
    ),
    (
        "activity_kind",
        "events",
        "行事・事業・会議への参加協力",
        "Events, programmes and meetings",
    ),
    (
        "activity_kind",
        "community",
        "地域福祉活動・自主活動",
        "Community welfare activities",
    ),
    (
        "activity_kind",
        "council",
        "民児協運営・研修",
        "Council work and training",
    ),
    ("activity_kind", "certificate", "証明事務", "Certificates"),
    (
        "activity_kind",
        "child_protection",
        "要保護児童の発見の通告・仲介",
        "Reporting children in need of protection",
    ),
    (
        "activity_kind",
        "liaison_members",
        "連絡調整（委員相互）",
        "Liaison among commissioners",
    ),
    (
        "activity_kind",
        "liaison_agencies",
        "連絡調整（関係機関）",
        "Liaison with agencies",
    ),
    ("activity_kind", "other", "その他", "Other"),
    ("salon_type", "fureai", "ふれあいサロン", "Community salon"),
    ("salon_type", "kosodate", "子育てサロン", "Parenting salon"),
    (
        "salon_type",
        "ninchisho_cafe",
        "認知症カフェ",
        "Dementia café",
    ),
    (
        "salon_type",
        "shogaisha",
        "障害者サロン",
        "Salon for people with disabilities",
    ),
    ("salon_type", "tsudoi", "つどいの場", "Gathering place"),
    ("salon_type", "lunch", "会食・昼食会", "Lunch gathering"),
    ("salon_type", "other", "その他", "Other"),
    ("program", "exercise", "体操", "Exercise"),
    ("program", "tea", "茶話会", "Tea and talk"),
    ("program", "singing", "歌", "Singing"),
    ("program", "lecture", "講座", "Talk or class"),
    ("program", "meal", "食事", "Meal"),
    ("program", "crafts", "手芸・工作", "Crafts"),
    ("program", "brain", "脳トレ", "Brain training"),
    ("program", "games", "ゲーム", "Games"),
    ("program", "other", "その他", "Other"),
    ("mark", "present", "出席", "Present"),
    ("mark", "absent", "欠席", "Absent"),
    ("place_kind", "household", "世帯", "Household"),
    (
        "place_kind",
        "needs_support",
        "支援が必要な人",
        "Needs support",
    ),
    (
        "place_kind",
        "helper",
        "世話焼きさん",
        "Neighbourhood helper",
    ),
    ("place_kind", "gathering", "たまり場", "Gathering spot"),
    ("place_kind", "shop", "お店", "Shop"),
    ("place_kind", "salon", "サロン", "Salon"),
    ("place_kind", "hazard", "危ない場所", "Hazard"),
    ("place_kind", "shelter", "避難所", "Evacuation shelter"),
    ("place_kind", "other", "その他", "Other"),
    ("link_kind", "watch", "見守り", "Watches over"),
    ("link_kind", "greet", "声かけ", "Says hello"),
    ("link_kind", "shopping", "買い物支援", "Helps with shopping"),
    ("link_kind", "garbage", "ごみ出し", "Takes out rubbish"),
    (
        "link_kind",
        "escort",
        "通院の付き添い",
        "Goes to the doctor with",
    ),
    ("link_kind", "other", "その他", "Other"),
    ("doc_kind", "person", "見守り対象者", "Person"),
    ("doc_kind", "salon", "サロン", "Salon"),
    ("doc_kind", "map", "支え合いマップ", "Support map"),
    ("doc_kind", "activity", "活動記録", "Activity record"),
    ("role", "admin", "管理者", "Administrator"),
    ("role", "staff", "社協職員", "Council staff"),
    ("role", "minsei", "民生委員", "Welfare commissioner"),
    (
        "role",
        "volunteer",
        "訪問ボランティア",
        "Visiting volunteer",
    ),
    ("role", "salon_leader", "サロン代表", "Salon leader"),
    ("role", "salon_helper", "サロン協力者", "Salon helper"),
    ("role", "member", "地区の人", "District member"),
    ("role", "bousai", "自主防災組織", "Disaster-prevention group"),
];

/// The label of `code` in the list `kind`.
pub fn code_label(kind: &str, code: &str, lang: Lang) -> Option<&'static str> {
    CODE_LABELS
        .iter()
        .find(|(k, c, _, _)| *k == kind && *c == code)
        .map(|(_, _, ja, en)| if lang == Lang::Ja { *ja } else { *en })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages() {
        for m in Msg::ALL {
            assert!(
                !m.text(Lang::Ja).is_empty() && !m.text(Lang::En).is_empty(),
                "{m:?}"
            );
        }
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            fill(
                Msg::TooLong.text(Lang::Ja),
                &[("max", "2000"), ("len", "10000")]
            ),
            "2000文字以内で入力してください（いま10000文字）"
        );
    }

    #[test]
    fn labels_are_unique_per_list() {
        for (i, a) in CODE_LABELS.iter().enumerate() {
            for b in &CODE_LABELS[i + 1..] {
                assert!(!(a.0 == b.0 && a.1 == b.1), "{a:?} twice");
            }
        }
    }
}
