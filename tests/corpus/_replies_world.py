"""Replies shaped like the world's clients (issue 11, classes 17–22), numbered from 400.

Each reply answers a message support@help.example.com sent; the attribution,
quoted header block, footer or signature is written the way the named client
writes it in that language. Classes: 17 attribution lines, 18 quoted header
blocks and separators, 19 signatures, 20 interleaved answers, 21 forwards,
22 automatic-mail markers (X-Loop, Precedence, Exchange's rules header).
"""

from __future__ import annotations

from _mime import ew, mailbox, message, multipart, text_part

US = "support@help.example.com"
SUPPORT = "Acme Support <support@help.example.com>"
Case = tuple[str, bytes, dict[str, object]]


def _reply(
    n: int,
    slug: str,
    desc: str,
    sender: tuple[str, str],
    subject: str,
    text: str,
    reply: str | None,
    *,
    agent: tuple[str, str] = ("X-Mailer", "Microsoft Outlook 16.0"),
    html: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    kind: str = "normal",
    charset: str = "utf-8",
) -> Case:
    name, addr = sender
    top: list[tuple[str, str]] = [
        (
            "Received",
            f"from mail.remote.example (mail.remote.example [198.51.100.{n % 250}])\r\n"
            f"\tby mx.help.example.com (Postfix) with ESMTPS id 4W{n:04d};"
            f" Mon, 04 Mar 2024 09:{n % 60:02d}:02 +0000",
        ),
        ("Date", f"Mon, 04 Mar 2024 09:{n % 60:02d}:00 +0000"),
        ("From", f'"{name}" <{addr}>' if name.isascii() else mailbox(name, addr)),
        ("To", SUPPORT),
        ("Subject", subject if subject.isascii() else ew(subject)),
        ("Message-ID", f"<world-{n:04d}@{addr.split('@')[1]}>"),
        ("In-Reply-To", f"<ticket-{n:04d}.w@help.example.com>"),
        agent,
        *(headers or []),
    ]
    body = text_part(text, charset, "quoted-printable")
    if html is not None and not text:  # HTML-only, as some webmail and Outlook send
        body = text_part(html, charset, "quoted-printable", "html")
    elif html is not None:
        body = multipart(
            "alternative",
            f"----=_world_{n:04d}",
            [body, text_part(html, charset, "quoted-printable", "html")],
        )
    e: dict[str, object] = {
        "description": desc,
        "kind": kind,
        "subject": subject,
        "from": [{"name": name, "address": addr}],
        "bounce": None,
    }
    if reply is not None:
        e["reply_text_equals"] = reply
    return slug, message(top, body), e


GMAIL = ("User-Agent", "Gmail")  # Gmail sets neither; kept readable for the corpus reader
APPLE = ("X-Mailer", "Apple Mail (2.3774.500.171.1.1)")
IPHONE = ("X-Mailer", "iPhone Mail (21D61)")
TBIRD = ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Thunderbird/115.8.0")
FOXMAIL = ("X-Mailer", "Foxmail 7.2.25.228[cn]")
QQ = ("X-QQ-mid", "xmsmtpt1709540000t3abc")
NETEASE = ("X-Mailer", "Coremail Webmail Server Version XT5.0.14")
OUTLOOK = ("X-Mailer", "Microsoft Outlook 16.0")
OWA = ("X-MS-Has-Attach", "")
ANDROID = ("X-Mailer", "Outlook for Android")


def cases() -> list[Case]:
    out: list[Case] = []

    def add(*args: object, **kw: object) -> None:
        out.append(_reply(400 + len(out), *args, **kw))  # type: ignore[arg-type]

    # --- 17: attribution lines --------------------------------------------------
    add(
        "attr-de-gmail",
        "Gmail in German: 'Am … schrieb …:' wrapped after the address",
        ("Jonas Weber", "jonas.weber@example.de"),
        "Re: Drucker druckt nicht",
        "Danke, jetzt geht es wieder.\n\nAm Mo., 4. März 2024 um 10:12 Uhr schrieb Acme Support <\n"
        "support@help.example.com>:\n\n> Bitte starten Sie den Drucker neu.\n>\n",
        "Danke, jetzt geht es wieder.",
        agent=GMAIL,
    )
    add(
        "attr-de-apple",
        "Apple Mail in German: 'X <a> schrieb am …:' inside the quote",
        ("Lena Fischer", "lena@example.de"),
        "Re: Lieferung",
        "Passt, vielen Dank!\n\nViele Grüße\nLena\n\n> Acme Support <support@help.example.com>"
        " schrieb am 04.03.2024 um 10:15:\n>\n> Die Lieferung kommt morgen.\n",
        "Passt, vielen Dank!\n\nViele Grüße\nLena",
        agent=APPLE,
    )
    add(
        "attr-fr-gmail",
        "Gmail in French: 'Le … a écrit :' with a narrow no-break space before the colon",
        ("Camille Martin", "camille.martin@example.fr"),
        "Re: Commande 4471",
        "Merci, c'est bien reçu.\n\nLe lun. 4 mars 2024 à 10:20, Acme Support <"
        "support@help.example.com> a écrit\u202f:\n\n> Votre commande est partie.\n",
        "Merci, c'est bien reçu.",
        agent=GMAIL,
    )
    add(
        "attr-es-gmail",
        "Gmail in Spanish: 'El … escribió:' wrapped over three lines",
        ("Lucía García", "lucia.garcia@example.es"),
        "Re: Factura de marzo",
        "Perfecto, gracias.\n\nEl lun, 4 mar 2024 a las 10:25, Acme Support\n(<support@help.example"
        ".com>)\nescribió:\n\n> Adjuntamos la factura.\n",
        "Perfecto, gracias.",
        agent=GMAIL,
    )
    add(
        "attr-pt-gmail",
        "Gmail in Portuguese: 'Em … escreveu:'",
        ("João Silva", "joao.silva@example.com.br"),
        "Re: Pedido 9912",
        "Recebi, obrigado!\n\nEm seg., 4 de mar. de 2024 às 10:30, Acme Support <"
        "support@help.example.com> escreveu:\n\n> Seu pedido foi enviado.\n",
        "Recebi, obrigado!",
        agent=GMAIL,
    )
    add(
        "attr-it-gmail",
        "Gmail in Italian: 'Il giorno … ha scritto:'",
        ("Giulia Rossi", "giulia.rossi@example.it"),
        "Re: Reso",
        "Va bene, grazie mille.\n\nIl giorno lun 4 mar 2024 alle ore 10:35 Acme Support <"
        "support@help.example.com> ha scritto:\n\n> Il reso è stato accettato.\n",
        "Va bene, grazie mille.",
        agent=GMAIL,
    )
    add(
        "attr-nl-gmail",
        "Gmail in Dutch: 'Op … schreef …:'",
        ("Sanne de Vries", "sanne@example.nl"),
        "Re: Levering",
        "Top, dank je wel.\n\nOp ma 4 mrt 2024 om 10:40 schreef Acme Support <"
        "support@help.example.com>:\n\n> De levering is morgen.\n",
        "Top, dank je wel.",
        agent=GMAIL,
    )
    add(
        "attr-pl-thunderbird",
        "Thunderbird in Polish: 'W dniu … napisał(a):'",
        ("Anna Kowalska", "anna.kowalska@example.pl"),
        "Re: Zamówienie",
        "Dziękuję, wszystko działa.\n\nW dniu 4.03.2024 o 10:45, Acme Support napisał(a):\n"
        "> Proszę zrestartować drukarkę.\n",
        "Dziękuję, wszystko działa.",
        agent=TBIRD,
    )
    add(
        "attr-ru-thunderbird",
        "Thunderbird in Russian: '… пишет:'",
        ("Иван Петров", "ivan.petrov@example.ru"),
        "Re: Заказ 5512",
        "Спасибо, получил.\n\n04.03.2024 10:50, Acme Support пишет:\n> Ваш заказ отправлен.\n",
        "Спасибо, получил.",
        agent=TBIRD,
    )
    add(
        "attr-sv-gmail",
        "Gmail in Swedish: 'skrev … :' after the date",
        ("Erik Lindqvist", "erik@example.se"),
        "Re: Leverans",
        "Tack, det fungerar nu.\n\nmån 4 mars 2024 kl 10:52 skrev Acme Support <"
        "support@help.example.com>:\n\n> Starta om skrivaren.\n",
        "Tack, det fungerar nu.",
        agent=GMAIL,
    )
    add(
        "attr-fi-gmail",
        "Gmail in Finnish: '… kirjoitti:'",
        ("Aino Virtanen", "aino@example.fi"),
        "Re: Tilaus",
        "Kiitos, toimii taas.\n\nma 4. maalisk. 2024 klo 10.54 Acme Support (support@help.example"
        ".com) kirjoitti:\n\n> Käynnistä tulostin uudelleen.\n",
        "Kiitos, toimii taas.",
        agent=GMAIL,
    )
    add(
        "attr-zh-gmail",
        "Gmail in Chinese: '… 于 … 写道：'",
        ("王芳", "wangfang@example.cn"),
        "Re: 发票问题",
        "收到，谢谢！\n\nAcme Support <support@help.example.com> 于2024年3月4日周一 10:56写道：\n\n"
        "> 发票已经寄出。\n",
        "收到，谢谢！",
        agent=GMAIL,
    )
    add(
        "attr-ja-thunderbird",
        "Thunderbird in Japanese: '… のメッセージ:'",
        ("佐藤 健", "k.sato@example.jp"),
        "Re: 注文について",
        "ありがとうございます。確認しました。\n\n2024/03/04 10:58, Acme Support のメッセージ:\n"
        "> ご注文の商品を発送しました。\n",
        "ありがとうございます。確認しました。",
        agent=TBIRD,
    )
    add(
        "attr-date-first",
        "Old Gmail date-first attribution without a verb: '2016-10-24 15:36 GMT+02:00 Name <a>:'",
        ("Marco Bianchi", "marco@example.it"),
        "Re: Ticket",
        "Grazie, risolto.\n\n2024-03-04 11:00 GMT+01:00 Acme Support <support@help.example.com>"
        ":\n\n"
        "> Provi a riavviare.\n",
        "Grazie, risolto.",
        agent=GMAIL,
    )
    add(
        "attr-outlook-mailto-wrapped",
        "Outlook plain text from HTML: attribution over four lines with a mailto: fragment",
        ("Tom Baker", "tom.baker@example.com"),
        "RE: Printer not working",
        "That worked, thank you.\n\nOn Mon, Mar 4, 2024 at 11:02 AM Acme Support <\n"
        "support@help.example.com<mailto:support@help.example.com>>\nwrote:\n\n"
        "Please restart the printer.\n",
        "That worked, thank you.",
    )
    add(
        "attr-zoho-dashes",
        "Zoho-style attribution wrapped in dashes, without a colon",
        ("Priya Nair", "priya@example.in"),
        "Re: Refund",
        "Received the refund, thanks.\n\n---- On Mon, 04 Mar 2024 11:04:00 +0000 Acme Support "
        "<support@help.example.com> wrote ----\n\nYour refund was issued.\n",
        "Received the refund, thanks.",
        agent=("User-Agent", "Zoho Mail"),
    )
    add(
        "attr-glued",
        "Attribution glued onto the end of the reply line (a client that drops the break)",
        ("Sam Lee", "sam.lee@example.com"),
        "Re: Access",
        "Yes, that is the right account. On Mon, Mar 4, 2024 at 11:06 AM Acme Support "
        "<support@help.example.com> wrote:\n> Is this the right account?\n",
        "Yes, that is the right account.",
        agent=GMAIL,
    )
    add(
        "attr-no-on-no-colon",
        "Attribution without 'On' and without a colon, followed by the quote",
        ("Kim Park", "kim.park@example.kr"),
        "Re: Shipping",
        "Great, thanks.\n\nMon, Mar 4, 2024 at 11:08 AM, Acme Support wrote\n> It ships today.\n",
        "Great, thanks.",
        agent=("X-Mailer", "Spark"),
    )
    add(
        "wrote-in-prose",
        "A reply line that merely contains 'wrote' (even with a date) does not cut the reply",
        ("Olivia Brown", "olivia@example.com"),
        "Re: Still waiting",
        "I wrote to your sales team on 1 March 2024 and nobody answered.\n"
        "My colleague wrote the order number on the form: 4471.\n\nOlivia\n",
        "I wrote to your sales team on 1 March 2024 and nobody answered.\n"
        "My colleague wrote the order number on the form: 4471.\n\nOlivia",
        agent=GMAIL,
    )

    # --- 18: quoted header blocks and separators ----------------------------------
    add(
        "hdr-fr-outlook",
        "Outlook in French: 'De : / Envoyé : / À : / Objet :' after the rule",
        ("Julien Moreau", "julien.moreau@example.fr"),
        "RE: Contrat",
        "Bonjour,\n\nC'est signé, je vous l'envoie.\n\nJulien\n\n________________________________\n"
        "De : Acme Support <support@help.example.com>\nEnvoyé : lundi 4 mars 2024 11:10\n"
        "À : Julien Moreau <julien.moreau@example.fr>\nObjet : Contrat\n\nVoici le contrat.\n",
        "Bonjour,\n\nC'est signé, je vous l'envoie.\n\nJulien",
    )
    add(
        "hdr-de-outlook-no-rule",
        "Outlook in German without a rule: 'Von: / Gesendet: / An: / Betreff:'",
        ("Max Schulz", "max.schulz@example.de"),
        "AW: Angebot",
        "Hallo,\n\ndas Angebot passt.\n\nVon: Acme Support <support@help.example.com>\n"
        "Gesendet: Montag, 4. März 2024 11:12\nAn: Max Schulz <max.schulz@example.de>\n"
        "Betreff: Angebot\n\nAnbei unser Angebot.\n",
        "Hallo,\n\ndas Angebot passt.",
    )
    add(
        "hdr-it-outlook",
        "Outlook in Italian: 'Da: / Inviato: / A: / Oggetto:'",
        ("Luca Ferri", "luca.ferri@example.it"),
        "R: Preventivo",
        "Confermo l'ordine.\n\nDa: Acme Support <support@help.example.com>\n"
        "Inviato: lunedì 4 marzo 2024 11:14\nA: Luca Ferri <luca.ferri@example.it>\n"
        "Oggetto: Preventivo\n\nEcco il preventivo.\n",
        "Confermo l'ordine.",
    )
    add(
        "hdr-nl-outlook",
        "Outlook in Dutch: 'Van: / Verzonden: / Aan: / Onderwerp:'",
        ("Daan Jansen", "daan@example.nl"),
        "RE: Offerte",
        "Akkoord.\n\nVan: Acme Support <support@help.example.com>\nVerzonden: maandag 4 maart 2024"
        " 11:16\nAan: Daan Jansen <daan@example.nl>\nOnderwerp: Offerte\n\nHierbij de offerte.\n",
        "Akkoord.",
    )
    add(
        "hdr-sv-outlook",
        "Outlook in Swedish: 'Från: / Skickat: / Till: / Ämne:'",
        ("Maja Berg", "maja.berg@example.se"),
        "SV: Faktura",
        "Betalt idag.\n\nFrån: Acme Support <support@help.example.com>\nSkickat: den 4 mars 2024"
        " 11:18\nTill: Maja Berg <maja.berg@example.se>\nÄmne: Faktura\n\nHär är fakturan.\n",
        "Betalt idag.",
    )
    add(
        "hdr-ru-outlook",
        "Outlook in Russian: 'От: / Отправлено: / Кому: / Тема:'",
        ("Ольга Смирнова", "olga@example.ru"),
        "RE: Счёт",
        "Оплатили сегодня.\n\nОт: Acme Support <support@help.example.com>\nОтправлено: 4 марта"
        " 2024 г. 11:20\nКому: Ольга Смирнова <olga@example.ru>\nТема: Счёт\n\nВаш счёт.\n",
        "Оплатили сегодня.",
    )
    add(
        "hdr-zh-163",
        "163 webmail: '发件人：/ 发送时间：/ 收件人：/ 主题：' with full-width colons",
        ("刘洋", "liuyang@163.example.com"),
        "回复:报价单",
        "价格没问题，请安排发货。\n\n\n\n发件人：Acme Support <support@help.example.com>\n"
        "发送时间：2024年3月4日 11:22\n收件人：刘洋 <liuyang@163.example.com>\n"
        "主题：报价单\n\n报价如下。\n",
        "价格没问题，请安排发货。",
        agent=NETEASE,
    )
    add(
        "sep-es-outlook",
        "Outlook in Spanish: '-----Mensaje original-----'",
        ("Carlos Ruiz", "carlos.ruiz@example.es"),
        "RE: Pedido",
        "Gracias, recibido.\n\n-----Mensaje original-----\nDe: Acme Support "
        "[mailto:support@help.example.com]\nEnviado el: lunes, 4 de marzo de 2024 11:24\n"
        "Para: Carlos Ruiz\nAsunto: Pedido\n\nSu pedido salió hoy.\n",
        "Gracias, recibido.",
    )
    add(
        "sep-fr-thunderbird",
        "Thunderbird in French: '-------- Message d'origine --------'",
        ("Chloé Petit", "chloe.petit@example.fr"),
        "Re: Livraison",
        "D'accord, merci.\n\n-------- Message d'origine --------\nSujet : Livraison\n"
        "Date : 04/03/2024 11:26\nDe : Acme Support <support@help.example.com>\n\nLa livraison"
        " est prévue demain.\n",
        "D'accord, merci.",
        agent=TBIRD,
    )
    add(
        "hdr-date-first",
        "A copied header block that starts with 'Date:'",
        ("Noah Wilson", "noah@example.com"),
        "Re: Warranty",
        "Thanks, I will send it back.\n\nDate: Mon, 4 Mar 2024 11:28:00 +0000\nFrom: Acme Support"
        " <support@help.example.com>\nTo: noah@example.com\nSubject: Warranty\n\nPlease return"
        " the unit.\n",
        "Thanks, I will send it back.",
        agent=("User-Agent", "Roundcube Webmail/1.6.5"),
    )

    # --- 19: signatures ------------------------------------------------------------
    add(
        "sig-fr-iphone",
        "iPhone in French: 'Envoyé de mon iPhone' above the quoted attribution",
        ("Hugo Laurent", "hugo@example.fr"),
        "Re: Rendez-vous",
        "Parfait, à demain.\n\nEnvoyé de mon iPhone\n\n> Le 4 mars 2024 à 11:30, Acme Support "
        "<support@help.example.com> a écrit :\n>\n> Rendez-vous demain à 9h.\n",
        "Parfait, à demain.",
        agent=IPHONE,
    )
    add(
        "sig-de-android-outlook",
        "Outlook for Android in German, footer with a link and a blank line after it",
        ("Mia Wagner", "mia.wagner@example.de"),
        "AW: Termin",
        "Passt mir gut.\n\nGesendet von Outlook für Android<https://aka.ms/AAb9ysg>\n\n"
        "________________________________\nFrom: Acme Support <support@help.example.com>\n"
        "Sent: Monday, March 4, 2024 11:32:00 AM\nTo: Mia Wagner <mia.wagner@example.de>\n"
        "Subject: Termin\n\nTermin am Dienstag?\n",
        "Passt mir gut.",
        agent=ANDROID,
    )
    add(
        "sig-de-mobile",
        "'Von meinem Mobilgerät gesendet' followed by a quoted block",
        ("Paul Becker", "paul.becker@example.de"),
        "Re: Rückruf",
        "Bitte morgen anrufen.\n\nVon meinem Mobilgerät gesendet\n\n> Am 04.03.2024 um 11:34 "
        "schrieb Acme Support <support@help.example.com>:\n> Wann dürfen wir anrufen?\n",
        "Bitte morgen anrufen.",
        agent=("X-Mailer", "Samsung Mail"),
    )
    add(
        "sig-zh-tw-iphone",
        "iPhone in traditional Chinese: '從我的 iPhone 傳送'",
        ("陳怡君", "yichun@example.tw"),
        "Re: 訂單",
        "好的，謝謝。\n\n從我的 iPhone 傳送\n\n> Acme Support <support@help.example.com>"
        " 於 2024年3月4日"
        " 11:36 寫道：\n>\n> 訂單已出貨。\n",
        "好的，謝謝。",
        agent=IPHONE,
    )
    add(
        "sig-airmail",
        "'Sent with Airmail' footer",
        ("Ethan Clark", "ethan@example.com"),
        "Re: Invoice",
        "Paid this morning.\n\nSent with Airmail\n\nOn March 4, 2024 at 11:38:00, Acme Support "
        "(support@help.example.com) wrote:\n\n> Your invoice is attached.\n",
        "Paid this morning.",
        agent=("X-Mailer", "Airmail (642)"),
    )
    add(
        "sig-typeapp",
        "'Sent from TypeApp' with its link",
        ("Zoe Adams", "zoe@example.com"),
        "Re: Password",
        "Reset worked.\n\nSent from TypeApp <http://www.typeapp.com/r?b=1>\n"
        "On Mar 4, 2024, at 11:40, Acme Support <support@help.example.com> wrote:\n"
        ">Try the reset link.\n",
        "Reset worked.",
        agent=("X-Mailer", "TypeApp for Android"),
    )
    add(
        "sig-foxmail-valediction",
        "Foxmail: a valediction then a name, title, phone and URL block without '-- '",
        ("Zhang Wei", "zhangwei@example.cn"),
        "Re: Quotation",
        "We accept the price, please ship next week.\n\nBest regards,\nZhang Wei\n"
        "Purchasing Manager | Star Technology Co., Ltd.\nTel: +86 21 5555 0100\n"
        "www.star-tech.example.cn\n\n\n------------------ Original ------------------\n"
        'From:  "Acme Support"<support@help.example.com>;\nDate:  Mon, Mar 4, 2024 11:42 AM\n'
        'To:  "Zhang Wei"<zhangwei@example.cn>;\n\nSubject:  Quotation\n\nOur price is attached.\n',
        "We accept the price, please ship next week.\n\nBest regards,",
        agent=FOXMAIL,
    )
    add(
        "sig-qq-valediction-zh",
        "QQ webmail in Chinese: '此致' then a name and phone block",
        ("赵敏", "zhaomin@qq.example.com"),
        "回复：合同",
        "合同已盖章，今天寄出。\n\n此致\n赵敏\n采购部 经理\n电话：021-5555-0101\n\n"
        "------------------&nbsp;原始邮件&nbsp;------------------\n"
        '发件人:&nbsp;"Acme Support"<support@help.example.com&gt;;\n发送时间:&nbsp;2024年3月4日\n',
        "合同已盖章，今天寄出。\n\n此致",
        agent=QQ,
    )
    add(
        "sig-short-reply-kept",
        "A short reply that ends 'Thanks,' and a name is not eaten as a signature",
        ("Grace Hall", "grace@example.com"),
        "Re: Meeting",
        "Tuesday works.\n\nThanks,\nGrace\n\nOn Mon, Mar 4, 2024 at 11:44 AM Acme Support "
        "<support@help.example.com> wrote:\n> Does Tuesday work?\n",
        "Tuesday works.\n\nThanks,\nGrace",
        agent=GMAIL,
    )

    # --- 20: interleaved answers ----------------------------------------------------
    add(
        "interleaved-thunderbird",
        "Thunderbird bottom-posting with answers between the quoted questions",
        ("Felix Braun", "felix@example.de"),
        "Re: Fragen zum Drucker",
        "On 04.03.24 11:46, Acme Support wrote:\n> Which model do you have?\n\nM404dn.\n\n"
        "> Which error is shown?\n\n49.4C02.\n\n-- \nFelix\n",
        "M404dn.\n\n49.4C02.",
        agent=TBIRD,
    )
    add(
        "only-quotes",
        "A message that is only quotes has an empty reply text",
        ("Ben Young", "ben@example.com"),
        "Re: Survey",
        "On Mon, Mar 4, 2024 at 11:48 AM Acme Support <support@help.example.com> wrote:\n"
        "> How did we do?\n> Reply to this message.\n",
        "",
        agent=GMAIL,
    )

    # --- 21: forwards ---------------------------------------------------------------
    add(
        "forward-apple",
        "Apple Mail forward: 'Begin forwarded message:' keeps the forwarded content",
        ("Ella King", "ella@example.com"),
        "Fwd: Broken kettle",
        "Can you help my neighbour?\n\nBegin forwarded message:\n\nFrom: Ruth Scott "
        "<ruth@example.org>\nSubject: Broken kettle\nDate: 3 March 2024 at 18:00:00 GMT\n"
        "To: Ella King <ella@example.com>\n\nMy kettle stopped working after a week.\n",
        "Can you help my neighbour?\n\nBegin forwarded message:\n\nFrom: Ruth Scott "
        "<ruth@example.org>\nSubject: Broken kettle\nDate: 3 March 2024 at 18:00:00 GMT\n"
        "To: Ella King <ella@example.com>\n\nMy kettle stopped working after a week.",
        agent=APPLE,
    )
    add(
        "forward-de-thunderbird",
        "Thunderbird in German: '-------- Weitergeleitete Nachricht --------'",
        ("Jan Vogel", "jan.vogel@example.de"),
        "WG: Reklamation",
        "Zur Info.\n\n-------- Weitergeleitete Nachricht --------\nBetreff: Reklamation\n"
        "Datum: Sun, 3 Mar 2024 18:00:00 +0100\nVon: Kunde <kunde@example.org>\n"
        "An: jan.vogel@example.de\n\nDas Gerät ist defekt.\n",
        "Zur Info.\n\n-------- Weitergeleitete Nachricht --------\nBetreff: Reklamation\n"
        "Datum: Sun, 3 Mar 2024 18:00:00 +0100\nVon: Kunde <kunde@example.org>\n"
        "An: jan.vogel@example.de\n\nDas Gerät ist defekt.",
        agent=TBIRD,
    )

    # --- 22: automatic-mail markers -------------------------------------------------
    add(
        "auto-x-loop",
        "An automated notice with X-Loop and nothing else automatic about it",
        ("Helpdesk", "helpdesk@tickets.example.net"),
        "[#88123] Your request was received",
        "Your request has been received and is being reviewed.\n",
        None,
        agent=("X-Mailer", "Request Tracker"),
        headers=[("X-Loop", "helpdesk@tickets.example.net")],
        kind="auto_reply",
    )
    add(
        "auto-precedence-bulk",
        "Precedence: bulk alone means do not answer (RFC 3834 §2): automatic",
        ("Example News", "news@lists.example.org"),
        "Our spring catalogue",
        "The spring catalogue is out. Browse it on our site.\n",
        None,
        agent=("X-Mailer", "phpList 3"),
        headers=[("Precedence", "bulk")],
        kind="auto_reply",
    )
    add(
        "human-exchange-rules-loop",
        "A person's reply that went through a server-side rule: X-MS-Exchange-Inbox-Rules-Loop"
        " alone is not automatic",
        ("Rachel Green", "rachel.green@contoso.example"),
        "RE: Printer not working",
        "It works now, thanks!\n\nFrom: Acme Support <support@help.example.com>\nSent: Monday,"
        " March 4, 2024 11:50 AM\nTo: Rachel Green <rachel.green@contoso.example>\nSubject:"
        " Printer not working\n\nPlease restart it.\n",
        "It works now, thanks!",
        headers=[("X-MS-Exchange-Inbox-Rules-Loop", "rachel.green@contoso.example")],
    )
    # --- HTML-only replies: the parser renders the HTML, quotes marked by markup --------
    add(
        "html-only-gmail-fr",
        "Gmail HTML-only reply in French: attribution and blockquote in gmail_quote",
        ("Léa Girard", "lea.girard@example.fr"),
        "Re: Garantie",
        "",
        "Oui, le numéro de série est AB-1234.",
        agent=GMAIL,
        html='<div dir="ltr">Oui, le numéro de série est AB-1234.</div><br>'
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">Le lun. 4 mars 2024 à'
        " 11:52, Acme Support &lt;support@help.example.com&gt; a écrit&nbsp;:<br></div>"
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">Quel est le'
        " numéro de série ?</blockquote></div>\n",
    )
    add(
        "html-only-outlook-de",
        "Outlook HTML-only reply in German: the divRplyFwdMsg header block 'Von / Gesendet'",
        ("Sophie Koch", "sophie.koch@example.de"),
        "AW: Rechnung",
        "",
        "Die Rechnung ist bezahlt.",
        html='<html><body><div>Die Rechnung ist bezahlt.</div><hr style="display:inline-block">'
        '<div id="divRplyFwdMsg" dir="ltr"><b>Von:</b> Acme Support &lt;support@help.example'
        ".com&gt;<br><b>Gesendet:</b> Montag, 4. März 2024 11:54<br><b>An:</b> Sophie Koch<br>"
        "<b>Betreff:</b> Rechnung</div><div>Ihre Rechnung liegt bei.</div></body></html>\n",
    )
    add(
        "html-only-qq-zh",
        "QQ webmail HTML-only reply: Foxmail-style '原始邮件' rule and a mobile footer",
        ("周杰", "zhoujie@qq.example.com"),
        "回复：退款",
        "",
        "退款已收到，谢谢。",
        agent=QQ,
        html="<div>退款已收到，谢谢。</div><div><br></div><div>发自我的iPhone</div><div><br></div>"
        '<div style="font-size:12px">------------------&nbsp;原始邮件&nbsp;------------------'
        '</div><div><b>发件人:</b>&nbsp;"Acme Support"&lt;support@help.example.com&gt;;</div>'
        "<div><b>发送时间:</b>&nbsp;2024年3月4日(星期一) 中午11:56</div><div>退款已处理。</div>\n",
    )
    return out
