"""Every UI string of the entry forms and the feedback pages, in Danish with English beside.

Labels, help texts, code labels and validation messages come from the data contract; this module
holds only the words the UI itself adds (placeholders, buttons, headings, score bands). Look a
string up with :func:`t`; a missing key is a KeyError, never a silent English fallback.
"""
from __future__ import annotations

from collections.abc import Mapping

from hjertekom_core.contract import Text

STRINGS: Mapping[str, Text] = {
    # --- field widgets ----------------------------------------------------------------------------
    "choose": Text("— vælg —", "— choose —"),
    "unknown": Text("Uoplyst", "Unknown"),
    "missing": Text("Mangler", "Missing"),
    "missing_name": Text("{label}: årsag til, at svaret mangler", "{label}: reason the answer is missing"),
    "missing_tooltip": Text("Blev feltet ikke udfyldt, så vælg hvorfor i stedet for at lade det stå tomt. "
                            "Feltet gemmes med årsagen.",
                            "If the field was not filled in, choose why instead of leaving it blank. The field "
                            "is saved with the reason."),
    "yes": Text("Ja", "Yes"),
    "no": Text("Nej", "No"),
    "date_placeholder": Text("dd-mm-åååå", "dd-mm-yyyy"),
    "int_placeholder": Text("helt tal", "whole number"),
    "decimal_placeholder": Text("tal, fx 12,5", "number, e.g. 12.5"),
    "text_placeholder": Text("", ""),
    "required_mark": Text("Skal udfyldes, før skemaet kan markeres som færdigt",
                          "Must be filled in before the form can be marked complete"),
    "not_calculated": Text("beregnes, når felterne er udfyldt", "calculated when the fields are filled in"),
    "reference_value": Text("Start: {value}", "Start: {value}"),
    "reference_change": Text("ændring {change}", "change {change}"),
    "error_prefix": Text("Fejl:", "Error:"),
    "warning_prefix": Text("Kontrollér:", "Check:"),
    # --- score bands (derived fields) -------------------------------------------------------------
    "band.hads_anxiety.normal": Text("normal", "normal"),
    "band.hads_anxiety.borderline": Text("grænsetilfælde", "borderline"),
    "band.hads_anxiety.case": Text("sandsynlig angst", "probable anxiety"),
    "band.hads_depression.normal": Text("normal", "normal"),
    "band.hads_depression.borderline": Text("grænsetilfælde", "borderline"),
    "band.hads_depression.case": Text("sandsynlig depression", "probable depression"),
    "band.who5.poor": Text("tyder på dårlig trivsel", "suggests poor wellbeing"),
    # --- reports (reports_api.py and the links in the app) ----------------------------------------
    "reports.title": Text("Rapporter", "Reports"),
    "reports.link": Text("Rapporter", "Reports"),
    "reports.back": Text("Tilbage til HjerteKom", "Back to HjerteKom"),
    "reports.none": Text("Der er endnu ingen rapporter for din kommune.", "There are no reports for your municipality yet."),
    "reports.no_access": Text("Din rolle giver ikke adgang til rapporter. Kontakt din koordinator.",
                              "Your role does not give access to reports. Contact your coordinator."),
    "reports.period": Text("Periode", "Period"),
    "reports.municipality": Text("Kommune", "Municipality"),
    "reports.file": Text("Fil", "File"),
    "reports.not_found": Text("Rapporten findes ikke, eller du har ikke adgang til den.",
                              "The report does not exist, or you do not have access to it."),
    "reports.course_not_found": Text("Forløbet findes ikke, eller det hører ikke til dine kommuner.",
                                     "The course does not exist, or it is not in your municipalities."),
    "reports.failed": Text("Rapporten kunne ikke laves. Fejlen er logget; prøv igen, eller kontakt support.",
                           "The report could not be made. The error has been logged; try again or contact support."),
    "reports.kind.citizen": Text("Borgerens resultater", "The citizen's results"),
    "reports.kind.summary": Text("Forløbsopsummering", "Course summary"),
    "reports.as_pdf": Text("PDF", "PDF"),
    "reports.programme_report": Text("programrapport", "programme report"),
    # --- form-level -------------------------------------------------------------------------------
    "missing_heading": Text("Mangler, før skemaet kan markeres som færdigt ({n}):",
                            "Missing before the form can be marked complete ({n}):"),
    "nothing_missing": Text("Alle påkrævede felter er udfyldt.", "All required fields are filled in."),
    # --- citizen feedback -------------------------------------------------------------------------
    "fb_title": Text("Dine resultater", "Your results"),
    "fb_measure": Text("Måling", "Measurement"),
    "fb_start": Text("Start", "Start"),
    "fb_end": Text("Afslutning", "End"),
    "fb_change": Text("Ændring", "Change"),
    "fb_unknown_value": Text("uoplyst", "unknown"),
    "fb_no_value": Text("–", "–"),
    "fb_different_test": Text("forskellig test ved start og afslutning – kan ikke sammenlignes",
                              "different tests at start and end – not comparable"),
    "fb_no_results": Text("Der er endnu ingen målinger at vise.", "There are no measurements to show yet."),
    "fb_indicators_title": Text("Kvalitetsindikatorer for forløbet", "Quality indicators for the course"),
    "fb_indicator": Text("Indikator", "Indicator"),
    "fb_criterion": Text("Kriterium", "Criterion"),
    "fb_result": Text("Resultat", "Result"),
    "fb_not_finished": Text("Indikatorerne vurderes, når både den afklarende samtale og afslutningen er "
                            "markeret som færdige.",
                            "The indicators are assessed once both the start meeting and the end of course "
                            "are marked complete."),
    "crit.met": Text("opfyldt", "met"),
    "crit.not_met": Text("ikke opfyldt", "not met"),
    "crit.unknown": Text("kan ikke afgøres (tæller som ikke opfyldt)", "cannot be determined (counts as not met)"),
    "crit.not_applicable": Text("ikke relevant for forløbet", "does not apply to the course"),
    "fb_no_indicators_yet": Text("Ingen af programmets indikatorer gælder forløbet endnu.",
                                 "None of the programme's indicators applies to the course yet."),
    # --- municipality feedback --------------------------------------------------------------------
    "mf_title": Text("Kvalitetsindikatorer K1-K6", "Quality indicators K1-K6"),
    "mf_title_programme": Text("Kommunens kvalitetsindikatorer – {programme}",
                               "The municipality's quality indicators – {programme}"),
    "mf_indicator": Text("Indikator", "Indicator"),
    "mf_counts": Text("Tæller / nævner", "Numerator / denominator"),
    "mf_unknown": Text("Heraf ukendt", "Of which unknown"),
    "mf_proportion": Text("Andel", "Proportion"),
    "mf_ci": Text("95 %-konfidensinterval", "95 % confidence interval"),
    "mf_standard": Text("Standard", "Standard"),
    "mf_status": Text("Status", "Status"),
    "mf_empty": Text("Der er ingen indikatorresultater at vise.", "There are no indicator results to show."),
    # --- one course's forms: saving, the lock of a finished registration, history, conflicts -------
    "entry.save_draft": Text("Gem kladde", "Save draft"),
    "entry.complete": Text("Markér som færdig", "Mark as complete"),
    "entry.save_next": Text("Gem og gå videre", "Save and go on"),
    "entry.next_open": Text("{form} er åbnet.", "{form} is open."),
    "entry.correct": Text("Ret registrering", "Correct the registration"),
    "entry.reopen": Text("Genåbn som kladde", "Reopen as draft"),
    "entry.save_correction": Text("Gem rettelse", "Save the correction"),
    "entry.cancel_correction": Text("Fortryd rettelse", "Undo the correction"),
    "entry.history": Text("Historik", "History"),
    "entry.history_hide": Text("Skjul historik", "Hide history"),
    "entry.continue": Text("Fortsæt", "Continue"),
    "entry.cancel": Text("Annullér", "Cancel"),
    "entry.reason_for_correction": Text("Hvorfor rettes den færdige registrering? (skal udfyldes)",
                                        "Why is the finished registration corrected? (required)"),
    "entry.reason_for_reopen": Text("Hvorfor genåbnes den færdige registrering som kladde? (skal udfyldes)",
                                    "Why is the finished registration reopened as a draft? (required)"),
    "entry.reason_placeholder": Text("fx: vægten var tastet forkert", "e.g. the weight was mistyped"),
    "entry.reason_missing": Text("Skriv en begrundelse, før du fortsætter.", "Give a reason before you continue."),
    "entry.reason_label": Text("Begrundelse for rettelsen", "Reason for the correction"),
    "entry.locked": Text("Registreringen er færdig og låst. Vælg \"Ret registrering\" for at rette den (med en "
                         "begrundelse), eller \"Genåbn som kladde\", hvis den ikke er færdig alligevel.",
                         "The registration is finished and locked. Choose \"Correct the registration\" to "
                         "correct it (with a reason), or \"Reopen as draft\" if it is not finished after all."),
    "entry.correcting": Text("Du retter en færdig registrering. Den forbliver færdig, når du gemmer rettelsen.",
                             "You are correcting a finished registration. It stays complete when you save the "
                             "correction."),
    "entry.saved_draft": Text("{form} er gemt som kladde ({time}, version {revision}).",
                              "{form} is saved as a draft ({time}, version {revision})."),
    "entry.saved_complete": Text("{form} er markeret som færdig ({time}, version {revision}).",
                                 "{form} is marked as complete ({time}, version {revision})."),
    "entry.saved_correction": Text("{form} er rettet og stadig færdig ({time}, version {revision}).",
                                   "{form} is corrected and still complete ({time}, version {revision})."),
    "entry.reopened": Text("{form} er genåbnet som kladde ({time}, version {revision}). Den tæller ikke som "
                           "færdig, før den er markeret som færdig igen.",
                           "{form} is reopened as a draft ({time}, version {revision}). It does not count as "
                           "finished until it is marked as complete again."),
    "entry.fix_errors": Text("Ret fejlene, før der kan gemmes:", "Correct the errors before saving:"),
    "entry.missing": Text("Mangler, før skemaet er færdigt:", "Missing before the form is complete:"),
    "entry.go_to": Text("Gå til feltet \"{label}\"", "Go to the field \"{label}\""),
    "entry.confirm_heading": Text("Kontrollér, før der gemmes – er det rigtigt?", "Check before saving – is this right?"),
    "entry.confirm": Text("Bekræft og gem", "Confirm and save"),
    "entry.confirm_no": Text("Ret værdierne", "Correct the values"),
    "entry.restored": Text("Dine ikke-gemte indtastninger fra {time} er hentet frem igen. De er ikke gemt som en "
                           "version endnu: gem, når du er færdig.",
                           "Your unsaved input from {time} has been restored. It is not saved as a version yet: "
                           "save when you are done."),
    "entry.restored_correction": Text("De hører til en rettelse af den færdige registrering: skriv begrundelsen, "
                                      "og gem rettelsen.",
                                      "It belongs to a correction of the finished registration: give the reason "
                                      "and save the correction."),
    "entry.unsaved": Text("Ikke gemt som version endnu. Dine indtastninger gemmes midlertidigt, mens du skriver "
                          "(senest {time}).",
                          "Not saved as a version yet. Your input is kept temporarily as you type (last "
                          "{time})."),
    "entry.unsaved_no_time": Text("Ikke gemt som version endnu.", "Not saved as a version yet."),
    "entry.all_saved": Text("Gemt: version {revision} ({status}).", "Saved: version {revision} ({status})."),
    "entry.nothing_saved": Text("Skemaet er ikke gemt endnu.", "The form has not been saved yet."),
    "entry.no_access": Text("Ikke gemt: det har du ikke adgang til. Kontakt din koordinator, hvis det er en fejl.",
                            "Not saved: you do not have access to this. Contact your coordinator if this is wrong."),
    "entry.refused_move": Text("Ikke gemt: du har ikke adgang til at flytte forløbet til {refused}. \"{label}\" er "
                               "sat tilbage til den gemte værdi ({stored}).",
                               "Not saved: you may not move the course to {refused}. \"{label}\" is set back to "
                               "the saved value ({stored})."),
    "entry.refused_others": Text("Dine andre ændringer er ikke gemt endnu: gem igen.",
                                 "Your other changes are not saved yet: save again."),
    "entry.refused_field": Text("Ikke gemt: {refused} (det har du ikke adgang til). Den gemte værdi er sat ind igen.",
                                "Not saved: {refused} (you do not have access). The saved value is back."),
    "time.today": Text("kl. {time}", "at {time}"),
    "time.other_day": Text("{date} kl. {time}", "{date} at {time}"),
    # --- conflicts (a colleague, or another tab of the same user, saved first) -------------------
    "conflict.colleague": Text("{who} gemte skemaet {when}, efter du åbnede det.",
                               "{who} saved the form {when}, after you opened it."),
    "conflict.same_user": Text("Du har selv gemt skemaet i en anden fane {when}.",
                               "You saved the form yourself in another tab {when}."),
    "conflict.someone": Text("En anden bruger (import eller system)", "Another user (import or system)"),
    "conflict.kept": Text("Dine indtastninger er bevaret; intet er gemt endnu.",
                          "Your input is kept; nothing has been saved yet."),
    "conflict.taken": Text("Hentet ind fra den nye version, fordi kun den ændrede dem: {fields}.",
                           "Taken from the new version, because only it changed them: {fields}."),
    "conflict.choose": Text("{n} felt(er) er ændret begge steder. Vælg for hvert felt, hvilken værdi der skal gemmes.",
                            "{n} field(s) were changed in both places. Choose for each field which value to save."),
    "conflict.save_on_top": Text("Gem igen for at gemme dine ændringer oven på den nye version ({revision}).",
                                 "Save again to save your changes on top of the new version ({revision})."),
    "conflict.unresolved": Text("Vælg først for hvert felt, der er ændret begge steder, hvilken værdi der skal "
                                "gemmes.",
                                "First choose, for each field changed in both places, which value to save."),
    "conflict.field": Text("Felt", "Field"),
    "conflict.mine": Text("Din værdi", "Your value"),
    "conflict.theirs": Text("Den gemte værdi ({who})", "The saved value ({who})"),
    "conflict.theirs_same_user": Text("Den gemte værdi (din anden fane)", "The saved value (your other tab)"),
    "conflict.keep_mine": Text("Behold min", "Keep mine"),
    "conflict.take_theirs": Text("Brug den gemte", "Use the saved one"),
    "conflict.chosen": Text("valgt", "chosen"),
    # --- history -----------------------------------------------------------------------------------
    "history.title": Text("Historik: {form}", "History: {form}"),
    "history.none": Text("Skemaet er ikke gemt endnu, så der er ingen historik.",
                         "The form has not been saved yet, so there is no history."),
    "history.version": Text("Version {revision}", "Version {revision}"),
    "history.saved_by": Text("gemt af {who} {when}", "saved by {who} {when}"),
    "history.system": Text("HjerteKom (import eller system)", "HjerteKom (import or system)"),
    "history.status": Text("Status", "Status"),
    "history.reason": Text("Begrundelse", "Reason"),
    "history.field": Text("Felt", "Field"),
    "history.before": Text("Før", "Before"),
    "history.after": Text("Efter", "After"),
    "history.no_changes": Text("Ingen felter ændret.", "No fields changed."),
    # --- pages and app controls --------------------------------------------------------------------
    "login_intro": Text("Log ind med dit brugernavn og din adgangskode.", "Sign in with your username and password."),
    "username": Text("Brugernavn", "Username"),
    "password": Text("Adgangskode", "Password"),
    "log_in": Text("Log ind", "Sign in"),
    "log_in_again": Text("Log ind igen", "Sign in again"),
    "log_out": Text("Log ud", "Sign out"),
    "login_failed": Text("Forkert brugernavn eller adgangskode. Prøv igen.", "Wrong username or password. Try again."),
    "login_researcher_note": Text("Forskere arbejder i JupyterLab med pseudonymiserede data, ikke her.",
                                  "Researchers work in JupyterLab on pseudonymised data, not here."),
    "login_locked": Text("For mange forkerte forsøg. Du kan prøve igen kl. {until}, eller kontakte din "
                         "koordinator eller administrator.",
                         "Too many failed attempts. You can try again at {until}, or contact your "
                         "coordinator or administrator."),
    "log_out_confirm": Text("Vil du logge ud? Alle dine åbne HjerteKom-faner lukkes.",
                            "Sign out? All your open HjerteKom tabs are closed."),
    "login_via_proxy": Text("Du skal logge ind via kommunens fælles log-in. Luk siden, og åbn HjerteKom igen "
                            "fra portalen.",
                            "Sign in through the municipality's common sign-in. Close the page and open "
                            "HjerteKom again from the portal."),
    "logged_out": Text("Du er logget ud.", "You are signed out."),
    "not_signed_in": Text("Du er ikke logget ind. Genindlæs siden for at logge ind.", "You are not signed in. Reload the page to sign in."),
    "error.forbidden": Text("Det har du ikke adgang til. Er du logget ud? Log ind igen.",
                            "You do not have access to this. Are you signed out? Sign in again."),
    "error.not_found": Text("Siden findes ikke.", "The page does not exist."),
    "unexpected": Text("Der skete en uventet fejl. Prøv igen; fejlen er logget.", "An unexpected error occurred. Try again; the error has been logged."),
    # --- administration: users and the audit log (admin_pages.py), the password change (auth.py) --
    "admin.link": Text("Brugere", "Users"),
    "admin.users_title": Text("Brugere", "Users"),
    "admin.no_access": Text("Det har du ikke adgang til. Brugere administreres af en administrator.",
                            "You do not have access to this. Users are managed by an administrator."),
    "admin.users_intro_admin": Text("Alle brugere. Ændringer træder i kraft med det samme: brugerens åbne sider "
                                    "lukkes, og ændringen skrives i revisionssporet.",
                                    "Every user. Changes take effect at once: the user's open pages are closed, and "
                                    "the change is written to the audit log."),
    "admin.users_intro_coordinator": Text("Brugerne i dine kommuner (kun til gennemsyn). Kontakt en administrator "
                                          "for ændringer.",
                                          "The users of your municipalities (read-only). Contact an administrator "
                                          "for changes."),
    "admin.name": Text("Navn", "Name"),
    "admin.role": Text("Rolle", "Role"),
    "admin.municipalities": Text("Kommuner", "Municipalities"),
    "admin.active": Text("Aktiv", "Active"),
    "admin.last_login": Text("Seneste log-ind", "Last login"),
    "admin.actions": Text("Handlinger", "Actions"),
    "admin.all": Text("alle", "all"),
    "admin.closed": Text("Lukket", "Closed"),
    "admin.must_change": Text("skal skifte adgangskode", "must change the password"),
    "admin.never": Text("aldrig", "never"),
    "admin.deactivate": Text("Luk adgang", "Deactivate"),
    "admin.reactivate": Text("Genåbn adgang", "Reactivate"),
    "admin.password_optional": Text("ny adgangskode (valgfri)", "new password (optional)"),
    "admin.reset_password": Text("Nulstil adgangskode", "Reset password"),
    "admin.set_role": Text("Skift rolle", "Change role"),
    "admin.set_municipalities": Text("Gem kommuner", "Save municipalities"),
    "admin.done.deactivated": Text("Adgangen er lukket, og brugerens åbne sider er lukket.",
                                   "Access is closed, and the user's open pages are closed."),
    "admin.done.reactivated": Text("Adgangen er åbnet igen.", "Access is open again."),
    "admin.done.role": Text("Rollen er ændret. Brugeren skal logge ind igen.",
                            "The role is changed. The user must sign in again."),
    "admin.done.municipalities": Text("Kommunerne er ændret. Brugeren skal logge ind igen.",
                                      "The municipalities are changed. The user must sign in again."),
    "admin.done.password": Text("Adgangskoden er nulstillet.", "The password is reset."),
    "admin.password_shown_once": Text("Ny adgangskode til {user} (vises kun denne ene gang; giv den personligt, og "
                                      "brugeren skal skifte den ved næste log-ind):",
                                      "New password for {user} (shown this once only; hand it over in person, and "
                                      "the user must change it at the next login):"),
    "admin.password_set": Text("Adgangskoden til {user} er sat. Brugeren skal skifte den ved næste log-ind.",
                               "The password of {user} is set. The user must change it at the next login."),
    "audit_view.link": Text("Revisionsspor", "Audit log"),
    "audit_view.title": Text("Revisionsspor", "Audit log"),
    "audit_view.user": Text("Bruger", "User"),
    "audit_view.citizen": Text("Borger-id", "Citizen id"),
    "audit_view.cpr": Text("eller CPR-nummer", "or CPR number"),
    "audit_view.action": Text("Handling", "Action"),
    "audit_view.municipality": Text("Kommune", "Municipality"),
    "audit_view.from": Text("Fra", "From"),
    "audit_view.to": Text("Til", "To"),
    "audit_view.search": Text("Søg", "Search"),
    "audit_view.help": Text("Datoer som 31-12-2025. En handling som \"login\" finder også login.failed og "
                            "login.locked. Et CPR-nummer slås op til borger-id og vises ikke igen. Din søgning "
                            "skrives i revisionssporet.",
                            "Dates such as 31-12-2025. An action such as \"login\" also finds login.failed and "
                            "login.locked. A CPR number is looked up to the citizen id and not shown again. Your "
                            "search is written to the audit log."),
    "audit_view.cpr_unknown": Text("Der er ingen borger med det CPR-nummer.", "There is no citizen with that CPR number."),
    "audit_view.col.at": Text("Tidspunkt", "Time"),
    "audit_view.col.user": Text("Bruger", "User"),
    "audit_view.col.action": Text("Handling", "Action"),
    "audit_view.col.entity": Text("Hvad", "What"),
    "audit_view.col.municipality": Text("Kommune", "Municipality"),
    "audit_view.col.detail": Text("Detaljer", "Details"),
    "audit_view.previous": Text("Forrige side", "Previous page"),
    "audit_view.next": Text("Næste side", "Next page"),
    "audit_view.hits": Text("{n} hændelser (side {page} af {pages})", "{n} entries (page {page} of {pages})"),
    "audit_view.export": Text("Hent som CSV", "Download as CSV"),
    "pw_change.title": Text("Skift adgangskode", "Change password"),
    "pw_change.intro": Text("Din adgangskode er nulstillet af en administrator. Vælg en ny, før du fortsætter.",
                            "Your password was reset by an administrator. Choose a new one before you continue."),
    "pw_change.old": Text("Nuværende adgangskode", "Current password"),
    "pw_change.new": Text("Ny adgangskode", "New password"),
    "pw_change.repeat": Text("Gentag ny adgangskode", "Repeat the new password"),
    "pw_change.policy": Text("Mindst 12 tegn, ikke en almindelig adgangskode og ikke dit brugernavn. Brug fx tre-fire "
                             "tilfældige ord.",
                             "At least 12 characters, not a common password and not your username. Use, for "
                             "example, three or four random words."),
    "pw_change.submit": Text("Skift adgangskode", "Change password"),
    "pw_change.old_wrong": Text("Den nuværende adgangskode er forkert. Prøv igen.",
                                "The current password is wrong. Try again."),
    # --- the citizen's questionnaire on a tablet (questionnaire_mode.py) -------------------------------
    "qm.start": Text("Borgerens spørgeskema (tablet)", "Citizen's questionnaire (tablet)"),
    "qm.title": Text("Spørgeskema", "Questionnaire"),
    "qm.welcome": Text("Tak, fordi du vil svare. Tryk på det svar, der passer bedst på dig. Du kan springe et "
                       "spørgsmål over.",
                       "Thank you for answering. Tap the answer that fits you best. You may skip a question."),
    "qm.shared_skipped": Text("Du har allerede svaret på {sections} i dag. De spørgsmål kommer ikke igen.",
                              "You have already answered {sections} today. Those questions are not asked again."),
    "qm.all_shared": Text("Borgeren har allerede besvaret skemaets spørgeskemaer i dag i et andet program; "
                          "der er intet at spørge om på tabletten.",
                          "The citizen has already answered the form's questionnaires today in another "
                          "programme; there is nothing to ask on the tablet."),
    "qm.number_hint": Text("Skriv et tal fra {low} til {high}", "Write a number from {low} to {high}"),
    "qm.number_wrong": Text("Skriv et helt tal fra {low} til {high}.", "Write a whole number from {low} to {high}."),
    "qm.done": Text("Færdig – giv tabletten tilbage", "Done – hand the tablet back"),
    "qm.handed_back": Text("Tak for dine svar. Giv tabletten tilbage til din behandler.",
                           "Thank you for your answers. Please hand the tablet back to your clinician."),
    "qm.unlock_for": Text("Kun for behandleren: skriv adgangskoden for {name} for at vende tilbage.",
                          "For the clinician only: enter the password of {name} to return."),
    "qm.password": Text("Adgangskode", "Password"),
    "qm.unlock_for_pin": Text("Kun for behandleren: skriv PIN-koden for {name} for at vende tilbage.",
                              "For the clinician only: enter the PIN of {name} to return."),
    "qm.unlock_for_pin_or_password": Text(
        "Kun for behandleren: skriv PIN-koden eller adgangskoden for {name} for at vende tilbage.",
        "For the clinician only: enter the PIN or the password of {name} to return."),
    "qm.pin": Text("PIN-kode", "PIN"),
    "qm.pin_or_password": Text("PIN-kode eller adgangskode", "PIN or password"),
    "qm.wrong_pin": Text("Forkert PIN-kode. Spørgeskemaet er stadig låst. ({n}. forkerte forsøg)",
                         "Wrong PIN. The questionnaire is still locked. (wrong attempt no. {n})"),
    "qm.wrong_pin_or_password": Text(
        "Forkert PIN-kode eller adgangskode. Spørgeskemaet er stadig låst. ({n}. forkerte forsøg)",
        "Wrong PIN or password. The questionnaire is still locked. (wrong attempt no. {n})"),
    "qm.need_pin": Text("Vælg først en PIN-kode under \"Min PIN-kode\" øverst på siden. Du logger ind via "
                        "kommunens login og har ingen adgangskode i HjerteKom, så PIN-koden er den eneste måde at "
                        "tage tabletten tilbage fra borgeren på. Tabletten er ikke givet videre.",
                        "First choose a PIN under \"My PIN\" at the top of the page. You sign in through the "
                        "municipality's login and have no password in HjerteKom, so the PIN is the only way to take "
                        "the tablet back from the citizen. The tablet has not been handed over."),
    "qm.unlock": Text("Lås op", "Unlock"),
    "qm.back_to_questions": Text("Tilbage til spørgsmålene", "Back to the questions"),
    "qm.wrong_password": Text("Forkert adgangskode. Spørgeskemaet er stadig låst. ({n}. forkerte forsøg)",
                              "Wrong password. The questionnaire is still locked. (wrong attempt no. {n})"),
    "qm.locked_out": Text("For mange forkerte forsøg. Prøv igen efter kl. {time}.",
                          "Too many wrong attempts. Try again after {time}."),
    "qm.stay": Text("Spørgeskemaet kan kun forlades med behandlerens adgangskode eller PIN-kode. Tryk på \"{done}\", når du er "
                    "færdig.",
                    "The questionnaire can only be left with the clinician's password or PIN. Tap \"{done}\" when you "
                    "are done."),
    "qm.answered_by_citizen": Text("Besvaret af borgeren", "Answered by the citizen"),
    "qm.returned": Text("Borgeren har besvaret {n} spørgsmål. De er markeret \"Besvaret af borgeren\": gennemse "
                        "dem, og gem som sædvanligt.",
                        "The citizen answered {n} questions. They are marked \"Answered by the citizen\": review "
                        "them and save as usual."),
    "history.self_reported": Text("Besvaret af borgeren", "Answered by the citizen"),
}


def t(key: str, lang: str = "da", **params: object) -> str:
    """The UI string ``key`` in ``lang`` ("da" or "en"), with ``{name}`` placeholders filled in."""
    text = STRINGS[key].get(lang)
    return text.format(**params) if params else text
